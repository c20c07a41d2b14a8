namespace Cairn.Engine.Tests;

public class SpaceTests
{
    [Fact]
    public void A_1_TiB_volume_takes_no_space_until_written()
    {
        using var t = new TempPool();
        using var e = t.Open();
        long before = t.DiskUsage();
        var info = e.CreateVolume("p/big", 1L << 40);
        Assert.Equal(1L << 40, info.Size);
        Assert.Equal(0, info.Used);
        Assert.Equal(0, info.Referenced);
        Assert.InRange(t.DiskUsage() - before, 0, 1 << 20);
        using var dev = e.Open("p/big");
        dev.Write((1L << 40) - 65536, TempPool.Pattern(65536, 3), fua: true);
        Assert.Equal(65536, e.Get("p/big")!.Used);
        Assert.InRange(t.DiskUsage() - before, 65536, 2 << 20);
        Assert.Equal([new Cairn.Core.Storage.ByteRange((1L << 40) - 65536, 65536)], dev.GetAllocatedRanges(0, 1L << 40));
    }

    [Fact]
    public void Discard_frees_the_space_on_disk()
    {
        using var t = new TempPool();
        using var e = t.Open();
        e.CreateVolume("p/a", 64L << 20);
        using var dev = e.Open("p/a");
        dev.Write(0, TempPool.Pattern(16 << 20, 1), fua: true);
        long full = t.DiskUsage();
        Assert.Equal(16L << 20, e.Get("p/a")!.Used);
        dev.Discard(0, 12 << 20);
        dev.Flush();
        Assert.Equal(4L << 20, e.Get("p/a")!.Used);
        Assert.True(t.DiskUsage() < full - (11 << 20), "discarded blocks must be punched out of the data file");
        Assert.Equal([new Cairn.Core.Storage.ByteRange(12 << 20, 4 << 20)], dev.GetAllocatedRanges(0, 64L << 20));
    }

    [Fact]
    public void Clones_share_their_origin_data_and_use_only_what_they_write()
    {
        using var t = new TempPool();
        using var e = t.Open();
        e.CreateVolume("p/a", 8L << 20);
        using (var dev = e.Open("p/a")) dev.Write(0, TempPool.Pattern(4 << 20, 1), fua: false);
        e.CreateSnapshot("p/a", "s");
        long disk = t.DiskUsage();
        for (int i = 0; i < 20; i++) e.Clone("p/a", "s", $"p/c{i}");
        Assert.InRange(t.DiskUsage() - disk, 0, 1 << 20);
        var c = e.Get("p/c3")!;
        Assert.Equal(0, c.Used);
        Assert.Equal(4L << 20, c.Referenced);
        using (var dev = e.Open("p/c3")) dev.Write(0, TempPool.Pattern(1 << 20, 2), fua: false);
        c = e.Get("p/c3")!;
        Assert.Equal(1L << 20, c.Used);
        Assert.Equal(4L << 20, c.Referenced);
        var s = e.GetSnapshot("p/a", "s")!;
        Assert.Equal(4L << 20, s.Referenced);
        Assert.Equal(20, s.Clones.Count);
        var a = e.Get("p/a")!;
        Assert.Equal(4L << 20, a.Used);
        Assert.Equal(4L << 20, a.Referenced);
    }

    [Fact]
    public void Destroying_a_snapshot_frees_the_blocks_the_volume_overwrote()
    {
        using var t = new TempPool();
        using var e = t.Open();
        e.CreateVolume("p/a", 8L << 20);
        using var dev = e.Open("p/a");
        dev.Write(0, TempPool.Pattern(4 << 20, 1), fua: false);
        e.CreateSnapshot("p/a", "s");
        dev.Write(0, TempPool.Pattern(1 << 20, 2), fua: false);
        Assert.Equal(1L << 20, e.GetSnapshot("p/a", "s")!.Used);
        Assert.Equal(5L << 20, e.Get("p/a")!.Used);
        e.DestroySnapshot("p/a", "s");
        Assert.Equal(4L << 20, e.Get("p/a")!.Used);
        var buf = new byte[4 << 20];
        dev.Read(0, buf);
        var expect = TempPool.Pattern(4 << 20, 1);
        TempPool.Pattern(1 << 20, 2).CopyTo(expect, 0);
        Assert.Equal(expect, buf);
    }

    [Fact]
    public void Pool_reports_filesystem_size_and_free_and_counts()
    {
        using var t = new TempPool();
        using var e = t.Open();
        e.CreateVolume("p/a", 1 << 20);
        e.CreateSnapshot("p/a", "s");
        var pool = e.GetPoolInfo();
        Assert.True(pool.Size > 0 && pool.Free > 0 && pool.Free <= pool.Size);
        Assert.Equal(1, pool.Datasets);
        Assert.Equal(1, pool.Snapshots);
    }
}
