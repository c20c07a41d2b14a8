using System.Buffers.Binary;
using System.Globalization;
using Cairn.Integration.Tests.Support;
using Cairn.Iscsi.Protocol;
using Cairn.Iscsi.Tests.Target;

namespace Cairn.Integration.Tests;

/// <summary>
/// Soak: rounds of 8 MiB writes from several sessions at once against a real server. What the target buffers for
/// them is bounded across connections (the write buffer budget, CAIRN_ISCSI_WRITE_BUFFER_MB), the writes wait for it
/// instead of failing, and the memory is given back once a burst is over.
/// </summary>
public sealed class IscsiMemoryTests
{
    private const string Target = "iqn.2026-01.org.example:membound";
    private const int Sessions = 4;
    private const int Rounds = 4;
    private const int WritesPerRound = 24; // per session
    private const int Depth = 16;          // commands each session keeps outstanding: 4 × 16 × 8 MiB = 512 MiB asked for
    private const int WriteBytes = 8 << 20; // the LU's largest transfer (MaxTransferBlocks, 16384 × 512)
    private const int Segment = 256 * 1024;
    private const long Slots = Depth;      // each session rewrites its own Depth × 8 MiB region
    private const int BudgetMiB = 256;     // the default budget, set explicitly so the bounds below follow from it

    [Fact]
    public async Task Bursts_of_large_writes_from_several_sessions_stay_bounded_and_memory_is_given_back()
    {
        long volMiB = Sessions * Slots * (WriteBytes >> 20);
        await using var server = await CairnProcess.StartAsync(env: new Dictionary<string, string>
        {
            ["CAIRN_ISCSI_WRITE_BUFFER_MB"] = BudgetMiB.ToString(CultureInfo.InvariantCulture),
        });
        (await server.CliAsync("volume", "create", "x/mem", "--size", $"{volMiB}M", "--parents")).Ok();
        (await server.CliAsync(["target", "create", Target, "--volume", "x/mem",
            .. Enumerable.Range(0, Sessions).SelectMany(i => new[] { "--initiator", Initiator(i) })])).Ok();

        var payload = new byte[WriteBytes];
        new Random(42).NextBytes(payload);

        // Warm-up: one session, a few writes (JIT, first connection, thread pool); the start is measured after it.
        await RunSessionAsync(server, 0, 2, 2, payload);
        long start = await SettledRssAsync(server);

        var log = new List<string>();
        for (int round = 0; round < Rounds; round++)
        {
            using var sampler = new RssSampler(server.Pid);
            await Task.WhenAll(Enumerable.Range(0, Sessions).Select(s => Task.Run(() => RunSessionAsync(server, s, WritesPerRound, Depth, payload))));
            long peak = sampler.Stop();
            // During the burst: the start, the budget, and what the budget does not cover, each bounded: per connection
            // the socket's receive buffer (1 MiB) and the unsolicited data the protocol lets an initiator send before
            // any R2T (here 16 × 256 KiB), and the runtime's own slack for a heap that turned over gigabytes (a GC's
            // headroom, the thread pool). 128 MiB for that is generous (measured: under 10 MiB above start + budget);
            // without the budget this burst peaked 500-630 MiB above the start, so the bound still tells the two apart.
            long bound = start + ((BudgetMiB + 128L) << 10);
            log.Add($"round {round}: start {start >> 10} MiB, peak {peak >> 10} MiB (bound {bound >> 10})");
            Assert.True(peak <= bound, string.Join('\n', log) + "\n" + server.Log);

            // After the burst: back near the start. 48 MiB covers what is rightly kept: the pipes' pooled blocks of the
            // sessions that just closed and the managed heap's working set after a compacting GC, which both vary by a
            // few MiB per round; a few 8 MiB buffers kept by a pool would still fit, the 256 MiB a round used to leave
            // behind would not. Waited for (the server gives memory back a moment after the last write), not slept.
            long tolerance = 48L << 10;
            long after = await WaitForRssAsync(server, start + tolerance, TimeSpan.FromSeconds(60));
            log.Add($"round {round}: after {after >> 10} MiB");
            Assert.True(after <= start + tolerance, string.Join('\n', log) + "\n" + server.Log);
        }
        Assert.False(server.HasExited, server.Log);
        log.AddRange(server.Log.Split('\n').Where(l => l.Contains("write buffers idle", StringComparison.Ordinal)));
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join('\n', log));
    }

    private static string Initiator(int session) => $"iqn.2026-01.org.example:soak-{session}";

    /// <summary>
    /// One session: <paramref name="writes"/> WRITE(10)s of 8 MiB, <paramref name="depth"/> at a time, each with its
    /// first 256 KiB as immediate data and the rest sent on R2T; every write must succeed (waiting is fine, failing is not).
    /// </summary>
    private static async Task RunSessionAsync(CairnProcess server, int session, int writes, int depth, byte[] payload)
    {
        await using var ini = await RawInitiator.ConnectAsync(server.IscsiPort);
        var (cls, detail, keys) = await ini.LoginAsync(Initiator(session), Target, "ImmediateData=Yes", "InitialR2T=Yes",
            "MaxRecvDataSegmentLength=262144", "FirstBurstLength=262144", "MaxBurstLength=1048576", "MaxOutstandingR2T=4",
            "HeaderDigest=None", "DataDigest=None");
        Assert.True(cls == 0, $"login: class {cls} detail {detail}");
        int segment = Math.Min(Segment, int.Parse(keys.GetValueOrDefault("MaxRecvDataSegmentLength", "8192"), CultureInfo.InvariantCulture));
        int immediate = Math.Min(segment, int.Parse(keys.GetValueOrDefault("FirstBurstLength", "65536"), CultureInfo.InvariantCulture));

        // The first command of a new nexus gets the power-on unit attention; TEST UNIT READY takes it.
        for (int i = 0; i < 3; i++)
            if ((await ini.ResponseAsync(await ini.CommandAsync(new byte[16], 0, read: false, write: false))).Status == 0) break;

        var lbas = new Dictionary<uint, uint>(); // ITT → LBA, for the error message
        int sent = 0, done = 0;
        async Task SendOne()
        {
            uint lba = (uint)(((session * Slots) + (sent % Slots)) * (WriteBytes / 512));
            sent++;
            uint itt = await ini.CommandAsync(RawInitiator.Write10(lba, WriteBytes / 512), WriteBytes, read: false, write: true,
                payload.AsMemory(0, immediate));
            lbas[itt] = lba;
        }
        for (int i = 0; i < Math.Min(depth, writes); i++) await SendOne();
        while (done < writes)
        {
            // Generous: under backpressure a write waits for other sessions' writes to finish first.
            var pdu = await ini.ReadAsync(timeoutMs: 120_000) ?? throw new IOException($"session {session}: target closed the connection");
            var op = (IscsiOpcode)(pdu.Bhs[0] & 0x3F);
            uint itt = BinaryPrimitives.ReadUInt32BigEndian(pdu.Bhs.AsSpan(16));
            if (op == IscsiOpcode.ReadyToTransfer)
            {
                uint ttt = BinaryPrimitives.ReadUInt32BigEndian(pdu.Bhs.AsSpan(20));
                int offset = (int)BinaryPrimitives.ReadUInt32BigEndian(pdu.Bhs.AsSpan(40));
                int length = (int)BinaryPrimitives.ReadUInt32BigEndian(pdu.Bhs.AsSpan(44));
                await SendDataOutAsync(ini, itt, ttt, offset, length, segment, payload);
            }
            else if (op == IscsiOpcode.ScsiResponse)
            {
                Assert.True(pdu.Bhs[3] == 0, $"session {session}: write at LBA {lbas[itt]} ended with status {pdu.Bhs[3]:x2}, sense {Convert.ToHexString(pdu.Data)}");
                done++;
                if (sent < writes) await SendOne();
            }
            else if (op == IscsiOpcode.NopIn && BinaryPrimitives.ReadUInt32BigEndian(pdu.Bhs.AsSpan(20)) != 0xFFFFFFFF)
            {
                // Keepalive ping: echo its TTT (RFC 7143 §11.18), immediate so it takes no CmdSN.
                await ini.SendAsync(IscsiOpcode.NopOut, 0x80, [], h =>
                {
                    BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), 0xFFFFFFFF);
                    pdu.Bhs.AsSpan(20, 4).CopyTo(h.AsSpan(20));
                    BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(24), ini.CmdSn);
                    BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(28), ini.ExpStatSn);
                }, immediate: true);
            }
            else Assert.Fail($"session {session}: unexpected opcode {op}");
        }
    }

    // RFC 7143 §11.7 SCSI Data-Out: the burst one R2T asked for, in segments of at most MaxRecvDataSegmentLength.
    private static async Task SendDataOutAsync(RawInitiator ini, uint itt, uint ttt, int offset, int length, int segment, byte[] payload)
    {
        var bhs = new byte[48];
        uint dataSn = 0;
        for (int at = 0; at < length; at += segment)
        {
            int n = Math.Min(segment, length - at);
            Array.Clear(bhs);
            bhs[0] = (byte)IscsiOpcode.DataOut;
            bhs[1] = (byte)(at + n == length ? 0x80 : 0);
            bhs[5] = (byte)(n >> 16); bhs[6] = (byte)(n >> 8); bhs[7] = (byte)n;
            bhs[9] = 0; // LUN 0
            BinaryPrimitives.WriteUInt32BigEndian(bhs.AsSpan(16), itt);
            BinaryPrimitives.WriteUInt32BigEndian(bhs.AsSpan(20), ttt);
            BinaryPrimitives.WriteUInt32BigEndian(bhs.AsSpan(28), ini.ExpStatSn);
            BinaryPrimitives.WriteUInt32BigEndian(bhs.AsSpan(36), dataSn++);
            BinaryPrimitives.WriteUInt32BigEndian(bhs.AsSpan(40), (uint)(offset + at));
            await ini.SendRawAsync(bhs);
            await ini.SendRawAsync(payload.AsMemory(offset + at, n)); // n is a multiple of 4: no padding
        }
    }

    private static long RssKiB(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
        throw new InvalidOperationException("no VmRSS");
    }

    /// <summary>RSS once two readings 500 ms apart differ by under 1 MiB (at most 30 s), in KiB.</summary>
    private static async Task<long> SettledRssAsync(CairnProcess server)
    {
        long last = RssKiB(server.Pid);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            await Task.Delay(500);
            long now = RssKiB(server.Pid);
            if (Math.Abs(now - last) < 1024) return now;
            last = now;
        }
        return last;
    }

    /// <summary>Polls RSS until it is at most <paramref name="limitKiB"/> or <paramref name="timeout"/> passes; returns the last reading.</summary>
    private static async Task<long> WaitForRssAsync(CairnProcess server, long limitKiB, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        long now;
        while ((now = RssKiB(server.Pid)) > limitKiB && DateTime.UtcNow < deadline)
        {
            Assert.False(server.HasExited, server.Log);
            await Task.Delay(100);
        }
        return now;
    }

    /// <summary>Reads the server's RSS every 20 ms on its own thread and keeps the highest.</summary>
    private sealed class RssSampler : IDisposable
    {
        private readonly Thread _thread;
        private volatile bool _stop;
        private long _peak;

        public RssSampler(int pid)
        {
            _thread = new Thread(() =>
            {
                while (!_stop)
                {
                    _peak = Math.Max(_peak, RssKiB(pid));
                    Thread.Sleep(20);
                }
            }) { IsBackground = true };
            _thread.Start();
        }

        public long Stop()
        {
            _stop = true;
            _thread.Join();
            return _peak;
        }

        public void Dispose() => Stop();
    }
}
