using Cairn.Core.Storage;

namespace Cairn.Engine.Tests;

public class IoTests
{
    [Fact]
    public void Unwritten_ranges_read_as_zeros_and_sub_block_writes_keep_their_neighbours()
    {
        using var t = new TempPool();
        using var e = t.Open();
        e.CreateVolume("p/v", 1 << 20);
        using var d = e.Open("p/v");
        var buf = new byte[16384];
        d.Read(0, buf);
        Assert.All(buf, b => Assert.Equal(0, b));
        d.Write(512, TempPool.Pattern(512, 1), fua: false);
        d.Write(3584, TempPool.Pattern(1024, 2), fua: false); // crosses a 4 KiB boundary
        d.Read(0, buf);
        var expect = new byte[16384];
        TempPool.Pattern(512, 1).CopyTo(expect, 512);
        TempPool.Pattern(1024, 2).CopyTo(expect, 3584);
        Assert.Equal(expect, buf);
        Assert.Equal([new ByteRange(0, 8192)], d.GetAllocatedRanges(0, 1 << 20));
        Assert.Equal([new ByteRange(1024, 1024)], d.GetAllocatedRanges(1024, 1024));
    }

    [Fact]
    public void Concurrent_sub_block_writes_to_one_block_of_a_clone_all_land()
    {
        using var t = new TempPool();
        using var e = t.Open();
        e.CreateVolume("p/v", 4 << 20);
        using (var d = e.Open("p/v")) d.Write(0, TempPool.Pattern(4 << 20, 1), fua: false);
        e.CreateSnapshot("p/v", "s");
        e.Clone("p/v", "s", "p/c");
        using var c = e.Open("p/c");
        // Eight threads each write one sector of every block: copy-ups race on every block.
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, s =>
        {
            var sector = TempPool.Pattern(512, 100 + s);
            for (long blk = 0; blk < 256; blk++) c.Write(blk * 4096 + s * 512, sector, fua: false);
        });
        var buf = new byte[4096];
        for (long blk = 0; blk < 256; blk++)
        {
            c.Read(blk * 4096, buf);
            for (int s = 0; s < 8; s++) Assert.Equal(TempPool.Pattern(512, 100 + s), buf[(s * 512)..((s + 1) * 512)]);
        }
    }

    [Fact]
    public void A_snapshot_taken_during_writes_holds_every_write_acknowledged_before_it()
    {
        using var t = new TempPool();
        using var e = t.Open();
        e.CreateVolume("p/v", 64L << 20);
        using var d = e.Open("p/v");
        long acked = -1;
        bool stop = false;
        var writer = new Thread(() =>
        {
            var data = new byte[4096];
            for (long blk = 0; blk < 16384 && !Volatile.Read(ref stop); blk++)
            {
                BitConverter.TryWriteBytes(data, blk + 1);
                d.Write(blk * 4096, data, fua: false);
                Volatile.Write(ref acked, blk);
            }
        });
        writer.Start();
        var snaps = new List<(string, long)>();
        for (int i = 0; i < 5; i++)
        {
            // Each snapshot comes after more writes were acknowledged (counted, not waited for by time).
            long last = Volatile.Read(ref acked);
            SpinWait.SpinUntil(() => Volatile.Read(ref acked) >= last + 16 || !writer.IsAlive);
            long before = Volatile.Read(ref acked);
            e.CreateSnapshot("p/v", "s" + i);
            snaps.Add(("s" + i, before));
        }
        Volatile.Write(ref stop, true);
        writer.Join();
        var buf = new byte[4096];
        foreach (var (name, before) in snaps)
        {
            using var s = e.OpenSnapshot("p/v", name);
            for (long blk = 0; blk <= before; blk++)
            {
                s.Read(blk * 4096, buf);
                Assert.Equal(blk + 1, BitConverter.ToInt64(buf));
            }
        }
    }

    [Fact]
    public void Devices_of_a_destroyed_volume_fail_cleanly()
    {
        using var t = new TempPool();
        using var e = t.Open();
        e.CreateVolume("p/v", 1 << 20);
        var d = e.Open("p/v");
        d.Write(0, new byte[4096], fua: false);
        e.Destroy("p/v");
        var ex = Assert.Throws<Cairn.Core.CairnException>(() => d.Write(0, new byte[4096], fua: false));
        Assert.Equal(Cairn.Core.ErrorKind.NotFound, ex.Kind);
        Assert.Throws<Cairn.Core.CairnException>(() => d.Read(0, new byte[4096]));
        Assert.Empty(Directory.GetFiles(t.Dir, "L*"));
    }
}
