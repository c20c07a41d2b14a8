namespace Cairn.Engine.Tests;

/// <summary>
/// kill -9 cannot be done in-process; these tests abandon an engine without Dispose (nothing more reaches the disk
/// than what the engine synced itself) and damage the map logs the way a torn write would, then reopen.
/// </summary>
public class CrashTests
{
    [Fact]
    public void Flushed_data_and_committed_snapshots_and_clones_survive_an_abandoned_engine()
    {
        using var t = new TempPool();
        var a = TempPool.Pattern(1 << 20, 1);
        var b = TempPool.Pattern(64 << 10, 2);
        var d = TempPool.Pattern(8 << 10, 4);
        Abandon(() =>
        {
            var e = t.Open(durable: true);
            e.CreateVolume("p/v", 4L << 20);
            var dev = e.Open("p/v");
            dev.Write(0, a, fua: false);
            dev.Flush();
            e.CreateSnapshot("p/v", "s");
            dev.Write(2 << 20, b, fua: true);
            dev.Write(3 << 20, TempPool.Pattern(4096, 3), fua: false); // never flushed: may be lost
            e.Clone("p/v", "s", "p/c");
            var c = e.Open("p/c");
            c.Write(4096, d, fua: false);
            c.Flush();
        });

        using var again = t.Open(durable: true);
        var buf = new byte[1 << 20];
        using (var dev = again.Open("p/v"))
        {
            dev.Read(0, buf);
            Assert.Equal(a, buf);
            var small = new byte[b.Length];
            dev.Read(2 << 20, small);
            Assert.Equal(b, small);
        }
        using (var snap = again.OpenSnapshot("p/v", "s"))
        {
            snap.Read(0, buf);
            Assert.Equal(a, buf);
        }
        Assert.Equal("p/v@s", again.Get("p/c")!.Origin);
        using (var c = again.Open("p/c"))
        {
            c.Read(0, buf);
            var expect = (byte[])a.Clone();
            d.CopyTo(expect, 4096);
            Assert.Equal(expect, buf);
        }
    }

    [Fact]
    public void Checkpointed_writes_survive_an_abandoned_engine_and_a_later_flush_makes_them_durable()
    {
        using var t = new TempPool();
        var a = TempPool.Pattern(3 << 20, 11);
        var b = TempPool.Pattern(64 << 10, 12);
        var mapFiles = () => Directory.GetFiles(t.Dir, "L*.map").Sum(f => new FileInfo(f).Length);
        Abandon(() =>
        {
            var e = t.Open(durable: true);
            e.CreateVolume("p/v", 64L << 20);
            var dev = e.Open("p/v");
            dev.Write(1 << 20, a, fua: false);
            long before = mapFiles();
            dev.Checkpoint(); // the map reaches the OS without a sync: an abandoned engine (kill -9) keeps it
            Assert.True(mapFiles() > before, "checkpoint writes the changed map pages");
            dev.Write(40L << 20, b, fua: false);
            dev.Checkpoint();
            dev.Flush(); // and a flush after checkpoints still has nothing left to write, only to sync
        });

        using var again = t.Open(durable: true);
        using var v = again.Open("p/v");
        var buf = new byte[a.Length];
        v.Read(1 << 20, buf);
        Assert.Equal(a, buf);
        var small = new byte[b.Length];
        v.Read(40L << 20, small);
        Assert.Equal(b, small);
        var head = new byte[1 << 20];
        v.Read(0, head);
        Assert.True(head.All(x => x == 0), "nothing was written before the image");
    }

    [Fact]
    public void A_torn_map_log_tail_is_ignored_and_cut_off()
    {
        using var t = new TempPool();
        var a = TempPool.Pattern(256 << 10, 7);
        Abandon(() =>
        {
            var e = t.Open(durable: true);
            e.CreateVolume("p/v", 64L << 20);
            var dev = e.Open("p/v");
            dev.Write(0, a, fua: true);
            dev.Write(32L << 20, a, fua: true);
        });
        var log = Directory.GetFiles(t.Dir, "L*.map").Single();
        long good = new FileInfo(log).Length;
        // A torn append: the start of a record whose checksum cannot match.
        using (var f = new FileStream(log, FileMode.Append))
        {
            f.Write(File.ReadAllBytes(log).AsSpan(0, 700));
            f.Write(new byte[300]);
        }

        using var again = t.Open(durable: true);
        using var v = again.Open("p/v");
        var buf = new byte[a.Length];
        v.Read(0, buf);
        Assert.Equal(a, buf);
        v.Read(32L << 20, buf);
        Assert.Equal(a, buf);
        Assert.Equal(good, new FileInfo(log).Length);
        v.Write(1 << 20, a, fua: true); // appends continue after the cut
        again.Dispose();
        using var third = t.Open();
        using var v3 = third.Open("p/v");
        v3.Read(1 << 20, buf);
        Assert.Equal(a, buf);
    }

    [Fact]
    public void Files_of_uncommitted_or_destroyed_layers_are_reclaimed_at_open()
    {
        using var t = new TempPool();
        using (var e = t.Open(durable: true))
        {
            e.CreateVolume("p/v", 1 << 20);
            using var dev = e.Open("p/v");
            dev.Write(0, TempPool.Pattern(65536, 1), fua: true);
        }
        var kept = Directory.GetFiles(t.Dir, "L*").Order().ToArray();
        Assert.NotEmpty(kept);
        File.WriteAllBytes(Path.Combine(t.Dir, "L999.data"), new byte[8192]);
        File.WriteAllBytes(Path.Combine(t.Dir, "L999.map"), new byte[100]);
        File.WriteAllBytes(Path.Combine(t.Dir, "L1.map.tmp"), new byte[100]);
        using var again = t.Open(durable: true);
        Assert.Equal(kept, Directory.GetFiles(t.Dir, "L*").Order().ToArray());
        var buf = new byte[65536];
        using var d2 = again.Open("p/v");
        d2.Read(0, buf);
        Assert.Equal(TempPool.Pattern(65536, 1), buf);
    }

    /// <summary>Runs <paramref name="work"/> and drops every reference to what it opened, without Dispose.</summary>
    private static void Abandon(Action work) => work();
}
