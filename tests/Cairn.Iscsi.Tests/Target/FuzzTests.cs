using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Cairn.Iscsi.Protocol;
using Cairn.Iscsi.Scsi;
using Cairn.Iscsi.Target;

namespace Cairn.Iscsi.Tests.Target;

/// <summary>
/// Seeded mutation fuzzing of the PDU parser and the session state machine (in-memory pipes, no sockets), for a fixed
/// number of inputs (the same run every time, however loaded the machine is): nothing may throw, every connection must
/// end, memory must stay bounded. CAIRN_FUZZ_SCALE multiplies the counts for a longer run by hand.
/// </summary>
[Collection(nameof(FuzzTests))]
public class FuzzTests
{
    private static readonly int Scale =
        int.TryParse(Environment.GetEnvironmentVariable("CAIRN_FUZZ_SCALE"), System.Globalization.CultureInfo.InvariantCulture, out var s) && s > 0 ? s : 1;

    [Fact]
    public void Parser_survives_mutated_streams()
    {
        var rnd = new Random(1234);
        var pdu = new Pdu();
        var seeds = Templates(rnd);
        for (long iteration = 0; iteration < 50_000L * Scale; iteration++)
        {
            var bytes = Mutate(rnd, seeds[rnd.Next(seeds.Count)]);
            var limits = new PduLimits(rnd.Next(0, 70000), rnd.Next(2) == 0, rnd.Next(2) == 0);
            int cut = rnd.Next(bytes.Length + 1);
            var seq = Segments(bytes, cut);
            for (int guard = 0; guard < 100; guard++)
            {
                var st = PduParser.TryParse(ref seq, limits, pdu, out _);
                if (st != ParseStatus.Complete) break;
                Assert.True(pdu.DataSegmentLength <= limits.MaxDataSegmentLength);
            }
        }
    }

    [Fact]
    public async Task Session_state_machine_survives_mutated_pdus_with_bounded_memory()
    {
        var registry = new TargetRegistry();
        registry.AddOrUpdate(new IscsiTarget
        {
            Iqn = TargetHost.TargetIqn,
            Luns = new Dictionary<int, IScsiLogicalUnit> { [0] = new TestLogicalUnit(256) },
            Initiators = ["*"],
        });
        // Per-command and pending-write caps bound what one connection can hold; pooled buffers stay small.
        var options = new IscsiTargetOptions { MaxPendingWriteBytes = 8 * 1024 * 1024, MaxCommandBuffer = 1024 * 1024, LoginTimeoutSeconds = 30 };
        var rnd = new Random(99);
        var templates = Templates(rnd);
        var login = LoginPdu();
        long baseline = GC.GetTotalMemory(true);
        for (int session = 0; session < 300 * Scale; session++)
        {
            var toTarget = new Pipe();
            var fromTarget = new Pipe();
            var conn = new IscsiConnection(toTarget.Reader, fromTarget.Writer, registry, options, "127.0.0.1:3260", "fuzz");
            var run = conn.RunAsync(TestContext.Current.CancellationToken);
            var ct = TestContext.Current.CancellationToken;
            var drain = Task.Run(async () =>
            {
                while (true)
                {
                    var r = await fromTarget.Reader.ReadAsync(ct);
                    fromTarget.Reader.AdvanceTo(r.Buffer.End);
                    if (r.IsCompleted) break;
                }
                await fromTarget.Reader.CompleteAsync();
            }, ct);
            if (rnd.Next(4) != 0) await toTarget.Writer.WriteAsync(login, ct);
            int n = rnd.Next(1, 40);
            for (int k = 0; k < n; k++)
            {
                var bytes = Mutate(rnd, templates[rnd.Next(templates.Count)]);
                var result = await toTarget.Writer.WriteAsync(bytes, ct);
                if (result.IsCompleted) break;
            }
            await toTarget.Writer.CompleteAsync();
            // WaitAsync drops its timer when the run ends; a Task.Delay per session would keep a live 10 s timer each,
            // which is what this test's memory bound would then measure.
            await run.WaitAsync(TimeSpan.FromSeconds(10), ct); // must end, and not throw
            await drain;
        }
        long growth = GC.GetTotalMemory(true) - baseline;
        Assert.True(growth < 64L * 1024 * 1024, $"memory grew by {growth} bytes");
        Assert.Empty(registry.Sessions);
    }

    private static byte[] LoginPdu()
    {
        var keys = System.Text.Encoding.UTF8.GetBytes($"InitiatorName={TargetHost.Initiator1}\0TargetName={TargetHost.TargetIqn}\0AuthMethod=None\0InitialR2T=No\0ImmediateData=Yes\0");
        return RawInitiator.Build(IscsiOpcode.LoginRequest, 0x83, keys, h => { h[8] = 0x80; BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(24), 1); }, immediate: true);
    }

    private static List<byte[]> Templates(Random rnd)
    {
        var list = new List<byte[]> { LoginPdu() };
        for (uint cmdSn = 1; cmdSn < 4; cmdSn++)
        {
            uint sn = cmdSn;
            list.Add(RawInitiator.Build(IscsiOpcode.ScsiCommand, 0xC1, default, h => { BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), sn); BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), 1024); BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(24), sn); RawInitiator.Read10(0, 2).CopyTo(h.AsSpan(32)); }));
            list.Add(RawInitiator.Build(IscsiOpcode.ScsiCommand, 0x21, new byte[512], h => { BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), sn); BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), 2048); BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(24), sn); RawInitiator.Write10(0, 4).CopyTo(h.AsSpan(32)); }));
        }
        list.Add(RawInitiator.Build(IscsiOpcode.DataOut, 0x80, new byte[512], h => { BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), 1); BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), 0xFFFFFFFF); BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(40), 512); }));
        list.Add(RawInitiator.Build(IscsiOpcode.DataOut, 0x80, new byte[512], h => { BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), 1); BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), 0); BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(40), 1024); }));
        list.Add(RawInitiator.Build(IscsiOpcode.NopOut, 0x80, "ping"u8, h => { BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), 7); BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), 0xFFFFFFFF); }, immediate: true));
        list.Add(RawInitiator.Build(IscsiOpcode.TaskManagementRequest, 0x81, default, h => BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), 1), immediate: true));
        list.Add(RawInitiator.Build(IscsiOpcode.TaskManagementRequest, 0x85, default, immediate: true));
        list.Add(RawInitiator.Build(IscsiOpcode.TextRequest, 0x80, "SendTargets=All\0"u8, h => BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), 0xFFFFFFFF), immediate: true));
        list.Add(RawInitiator.Build(IscsiOpcode.TextRequest, 0x40, "SendTar"u8, h => BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), 0xFFFFFFFF), immediate: true));
        list.Add(RawInitiator.Build(IscsiOpcode.LogoutRequest, 0x80, default, immediate: true));
        list.Add(RawInitiator.Build(IscsiOpcode.Snack, 0x80, default));
        var junk = new byte[rnd.Next(1, 200)];
        rnd.NextBytes(junk);
        list.Add(junk);
        return list;
    }

    private static byte[] Mutate(Random rnd, byte[] seed)
    {
        var b = (byte[])seed.Clone();
        int flips = rnd.Next(0, 6);
        for (int k = 0; k < flips && b.Length > 0; k++)
        {
            switch (rnd.Next(5))
            {
                case 0: b[rnd.Next(b.Length)] ^= (byte)(1 << rnd.Next(8)); break;
                case 1: b[rnd.Next(b.Length)] = (byte)rnd.Next(256); break;
                case 2 when b.Length >= 48: b[rnd.Next(4, 8)] = (byte)rnd.Next(256); break; // AHS / data length
                case 3 when b.Length >= 48: BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4 * rnd.Next(4, 12)), (uint)rnd.Next()); break;
                case 4: b = b[..rnd.Next(b.Length + 1)]; break;
            }
        }
        return b;
    }

    private static ReadOnlySequence<byte> Segments(byte[] bytes, int cut)
        => Protocol.Segments.Of(bytes[..cut], bytes[cut..]);
}

/// <summary>The fuzz tests measure process memory, so nothing runs beside them.</summary>
[CollectionDefinition(nameof(FuzzTests), DisableParallelization = true)]
public sealed class FuzzCollection;
