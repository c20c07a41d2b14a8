using System.Buffers.Binary;
using System.Collections.Concurrent;
using Cairn.Integration.Tests.Support;
using Cairn.Iscsi.Tests.Target;

namespace Cairn.Integration.Tests;

/// <summary>
/// SIGKILL of the server while initiators write over iSCSI: every write acknowledged with FUA, or followed by an
/// acknowledged SYNCHRONIZE CACHE, reads back intact after restart.
/// </summary>
public sealed class IscsiCrashTests
{
    private const string Target = "iqn.2026-01.org.example:crash";
    private const string Initiator = "iqn.2026-01.org.example:writer";
    private const int Block = 4096;
    private const long VolSize = 32L << 20;

    [Fact]
    public async Task Writes_acknowledged_durable_survive_sigkill()
    {
        var data = TempDir.Create("cairn-iscsi-crash");
        var durable = new ConcurrentDictionary<int, int>(); // slot → seed
        int nextSlot = 0;
        for (int round = 0; round < 2; round++)
        {
            await using var server = await CairnProcess.StartAsync(data);
            if (round == 0)
            {
                (await server.CliAsync("volume", "create", "k/v", "--size", "32M", "--parents")).Ok();
                (await server.CliAsync("target", "create", Target, "--volume", "k/v", "--initiator", Initiator)).Ok();
            }
            using var stop = new CancellationTokenSource();
            int ackedBefore = durable.Count;
            var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
            {
                try
                {
                    await using var ini = await RawInitiator.ConnectAsync(server.IscsiPort);
                    var (cls, _, _) = await ini.LoginAsync(Initiator, Target, "ImmediateData=Yes", "InitialR2T=No", "MaxRecvDataSegmentLength=262144", "HeaderDigest=None", "DataDigest=None");
                    Assert.Equal(0, cls);
                    var pending = new List<(int Slot, int Seed)>();
                    int n = 0;
                    while (!stop.IsCancellationRequested)
                    {
                        var slot = Interlocked.Increment(ref nextSlot) - 1;
                        if ((long)(slot + 1) * Block > VolSize) return;
                        var seed = slot * 7919 + 1;
                        bool fua = n++ % 2 == 0;
                        var cdb = RawInitiator.Write10((uint)(slot * (Block / 512)), Block / 512);
                        if (fua) cdb[1] |= 0x08;
                        var itt = await ini.CommandAsync(cdb, Block, read: false, write: true, Pattern(seed));
                        var (status, _, _, _) = await ini.ResponseAsync(itt);
                        if (status != 0) continue;
                        if (fua) durable[slot] = seed;
                        else pending.Add((slot, seed));
                        if (pending.Count == 4)
                        {
                            var sync = new byte[16];
                            sync[0] = 0x35; // SYNCHRONIZE CACHE (10), whole LU
                            var sitt = await ini.CommandAsync(sync, 0, read: false, write: false);
                            var (ss, _, _, _) = await ini.ResponseAsync(sitt);
                            if (ss == 0) foreach (var (s, sd) in pending) durable[s] = sd;
                            pending.Clear();
                        }
                    }
                }
                catch (IOException) { }
                catch (System.Net.Sockets.SocketException) { }
                catch (OperationCanceledException) { }
            })).ToList();
            // Kill once this round has N more acknowledged durable writes (more in the second round), not after a fixed
            // time: under load a fixed delay sometimes killed the server before any write was acknowledged.
            await WaitForAsync(() => durable.Count >= ackedBefore + 64 * (round + 1) || writers.All(w => w.IsCompleted), server);
            server.Kill();
            stop.Cancel();
            await Task.WhenAll(writers);
            Assert.True(durable.Count > ackedBefore, $"round {round}: no write was acknowledged before the kill\n{server.Log}");

            await using var again = await CairnProcess.StartAsync(data);
            using var http = new HttpClient();
            var image = await http.GetByteArrayAsync($"{again.Url}/cairn/v1/volume-data/k/v");
            foreach (var (slot, seed) in durable)
                Assert.True(image.AsSpan(slot * Block, Block).SequenceEqual(Pattern(seed)), $"round {round}: durable write to block slot {slot} lost");
            await again.StopAsync();
        }
    }

    private static async Task WaitForAsync(Func<bool> condition, CairnProcess server)
    {
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the writers did not get enough writes acknowledged:\n" + server.Log);
            Assert.False(server.HasExited, "cairn exited:\n" + server.Log);
            await Task.Delay(20);
        }
    }

    private static byte[] Pattern(int seed)
    {
        var b = new byte[Block];
        new Random(seed).NextBytes(b);
        BinaryPrimitives.WriteInt32BigEndian(b, seed);
        return b;
    }
}
