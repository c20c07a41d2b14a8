using Cairn.Core;
using Cairn.Core.Storage;

namespace Cairn.Engine.Tests;

public class RuleTests
{
    private static CairnException Fails(ErrorKind kind, Action a)
    {
        var e = Assert.Throws<CairnException>(a);
        Assert.Equal(kind, e.Kind);
        return e;
    }

    [Fact]
    public void Destroying_snapshot_with_clones_is_refused_naming_them()
    {
        using var t = new TempPool();
        using var e = t.Open();
        e.CreateVolume("p/a", 1 << 20);
        e.CreateSnapshot("p/a", "s");
        e.Clone("p/a", "s", "p/c");
        e.Clone("p/a", "s", "p/b");
        var ex = Fails(ErrorKind.Conflict, () => e.DestroySnapshot("p/a", "s"));
        Assert.Equal("snapshot p/a@s has clones: p/b, p/c", ex.Message);
        Assert.NotNull(e.GetSnapshot("p/a", "s"));
        e.Destroy("p/b");
        e.Destroy("p/c");
        e.DestroySnapshot("p/a", "s");
        Assert.Null(e.GetSnapshot("p/a", "s"));
    }

    [Fact]
    public void Destroying_volume_with_snapshots_needs_recursive_and_never_destroys_other_volumes_clones()
    {
        using var t = new TempPool();
        using var e = t.Open();
        e.CreateVolume("p/a", 1 << 20);
        e.CreateSnapshot("p/a", "s1");
        e.CreateSnapshot("p/a", "s2");
        var ex = Fails(ErrorKind.Conflict, () => e.Destroy("p/a"));
        Assert.Contains("p/a@s1, p/a@s2", ex.Message);
        e.Clone("p/a", "s2", "p/x");
        ex = Fails(ErrorKind.Conflict, () => e.Destroy("p/a", recursive: true));
        Assert.Equal("snapshot p/a@s2 has clones: p/x", ex.Message);
        Assert.Equal(2, e.ListSnapshots("p/a").Count); // refused: nothing changed
        e.Destroy("p/x");
        e.Destroy("p/a", recursive: true);
        Assert.Null(e.Get("p/a"));
        Assert.Empty(e.ListSnapshots());
    }

    [Fact]
    public void Folders_need_existing_parents_unless_parents_is_set_and_volumes_cannot_have_children()
    {
        using var t = new TempPool();
        using var e = t.Open();
        Fails(ErrorKind.NotFound, () => e.CreateVolume("p/f/g/v", 4096));
        Assert.Empty(e.List());
        e.CreateVolume("p/f/g/v", 4096, parents: true);
        Assert.Equal(DatasetKind.Folder, e.Get("p/f")!.Kind);
        Assert.Equal(DatasetKind.Folder, e.Get("p/f/g")!.Kind);
        Assert.Equal(DatasetKind.Folder, e.Get("p")!.Kind); // the pool exists implicitly
        Fails(ErrorKind.InvalidArgument, () => e.CreateVolume("p/f/g/v/w", 4096, parents: true));
        Fails(ErrorKind.InvalidArgument, () => e.CreateFolder("p/f/g/v/w", parents: true));
        Fails(ErrorKind.AlreadyExists, () => e.CreateFolder("p/f"));
        Fails(ErrorKind.AlreadyExists, () => e.CreateVolume("p/f/g/v", 4096));
        Fails(ErrorKind.AlreadyExists, () => e.CreateFolder("p"));
        var ex = Fails(ErrorKind.Conflict, () => e.Destroy("p/f"));
        Assert.Contains("p/f/g", ex.Message);
        e.Destroy("p/f", recursive: true);
        Assert.Null(e.Get("p/f"));
        Assert.Null(e.Get("p/f/g/v"));
    }

    [Fact]
    public void Recursive_destroy_of_a_folder_takes_clones_inside_it_but_refuses_clones_outside()
    {
        using var t = new TempPool();
        using var e = t.Open();
        e.CreateVolume("p/f/a", 1 << 20, parents: true);
        e.CreateSnapshot("p/f/a", "s");
        e.Clone("p/f/a", "s", "p/f/b");
        e.Clone("p/f/a", "s", "p/out");
        var ex = Fails(ErrorKind.Conflict, () => e.Destroy("p/f", recursive: true));
        Assert.Equal("snapshot p/f/a@s has clones: p/out", ex.Message);
        Assert.NotNull(e.Get("p/f/b"));
        e.Destroy("p/out");
        e.Destroy("p/f", recursive: true);
        Assert.Empty(e.List());
    }

    [Fact]
    public void Bad_names_and_sizes_are_invalid_and_change_nothing()
    {
        using var t = new TempPool();
        using var e = t.Open();
        foreach (var bad in new[] { "", "p//a", "p/../a", "p/a b", "p/a\n", "p/" + new string('x', 300), "p/a@s" })
            Fails(ErrorKind.InvalidArgument, () => e.CreateVolume(bad, 4096));
        Fails(ErrorKind.InvalidArgument, () => e.CreateVolume("p/a", 0));
        Fails(ErrorKind.InvalidArgument, () => e.CreateVolume("p/a", 1000));
        Fails(ErrorKind.InvalidArgument, () => e.CreateVolume("p/a", Sizes.MaxVolumeSize + 512));
        e.CreateVolume("p/a", 4096);
        Fails(ErrorKind.InvalidArgument, () => e.CreateSnapshot("p/a", "bad name"));
        Fails(ErrorKind.NotFound, () => e.CreateSnapshot("p/zz", "s"));
        Fails(ErrorKind.NotFound, () => e.Clone("p/a", "nosuch", "p/c"));
        Fails(ErrorKind.NotFound, () => e.Destroy("p/zz"));
        Fails(ErrorKind.NotFound, () => e.DestroySnapshot("p/a", "nosuch"));
        Assert.Single(e.List("p/a"));
        Assert.Empty(e.ListSnapshots());
    }

    [Fact]
    public void Resize_grows_only_and_an_open_device_sees_the_new_size()
    {
        using var t = new TempPool();
        using var e = t.Open();
        e.CreateVolume("p/a", 8192);
        using var dev = e.Open("p/a");
        dev.Write(4096, TempPool.Pattern(4096, 1), fua: false);
        Fails(ErrorKind.InvalidArgument, () => e.Resize("p/a", 4096));
        Assert.Equal(1 << 20, e.Resize("p/a", 1 << 20).Size);
        Assert.Equal(1 << 20, dev.Size);
        var buf = new byte[8192];
        dev.Read((1 << 20) - 8192, buf);
        Assert.All(buf, b => Assert.Equal(0, b));
        dev.Write((1 << 20) - 4096, TempPool.Pattern(4096, 2), fua: false);
        dev.Read(4096, buf.AsSpan(0, 4096));
        Assert.Equal(TempPool.Pattern(4096, 1), buf[..4096]);
        Fails(ErrorKind.InvalidArgument, () => dev.Read(1 << 20, buf.AsSpan(0, 512)));
    }

    [Fact]
    public void Batch_ops_are_independent_and_report_each_result_in_order()
    {
        using var t = new TempPool();
        using (var e = t.Open(durable: true))
        {
            e.CreateVolume("p/a", 1 << 20);
            e.CreateSnapshot("p/a", "s");
            var ops = new List<EngineOp>();
            for (int i = 0; i < 50; i++) ops.Add(new EngineOp.CloneSnapshot("p/a", "s", $"p/c/{i}", Parents: true));
            ops.Add(new EngineOp.CloneSnapshot("p/a", "missing", "p/z"));
            ops.Add(new EngineOp.CloneSnapshot("p/a", "s", "p/c/0"));
            var results = e.Apply(ops);
            Assert.All(results.Take(50), r => Assert.Null(r.Error));
            Assert.Equal(ErrorKind.NotFound, results[50].Error!.Kind);
            Assert.Equal(ErrorKind.AlreadyExists, results[51].Error!.Kind);
            Assert.Same(ops[51], results[51].Op);
        }
        using var again = t.Open();
        Assert.Equal(50, again.GetSnapshot("p/a", "s")!.Clones.Count);
        Assert.Equal("p/a@s", again.Get("p/c/7")!.Origin);
    }

    [Fact]
    public void Snapshots_are_read_only_and_keep_their_content_while_the_volume_changes()
    {
        using var t = new TempPool();
        using var e = t.Open();
        e.CreateVolume("p/a", 1 << 20);
        using var dev = e.Open("p/a");
        var one = TempPool.Pattern(65536, 1);
        dev.Write(0, one, fua: false);
        e.CreateSnapshot("p/a", "s");
        dev.Write(0, TempPool.Pattern(65536, 2), fua: false);
        dev.Discard(0, 8192);
        using var snap = e.OpenSnapshot("p/a", "s");
        Assert.True(snap.ReadOnly);
        var buf = new byte[65536];
        snap.Read(0, buf);
        Assert.Equal(one, buf);
        Fails(ErrorKind.Forbidden, () => snap.Write(0, buf.AsSpan(0, 512), fua: false));
        dev.Read(0, buf);
        Assert.All(buf[..8192], b => Assert.Equal(0, b));
        Assert.Equal(TempPool.Pattern(65536, 2)[8192..], buf[8192..]);
    }

    [Fact]
    public void Writes_to_a_clone_never_change_its_origin()
    {
        using var t = new TempPool();
        using var e = t.Open();
        e.CreateVolume("p/a", 1 << 20);
        using (var dev = e.Open("p/a")) dev.Write(0, TempPool.Pattern(1 << 20, 1), fua: false);
        e.CreateSnapshot("p/a", "s");
        e.Clone("p/a", "s", "p/b");
        using var clone = e.Open("p/b");
        clone.Write(512, TempPool.Pattern(512, 9), fua: false); // partial block: copy-up
        clone.Write(65536, TempPool.Pattern(8192, 8), fua: false);
        clone.Discard(131072, 65536);
        var buf = new byte[1 << 20];
        using (var a = e.Open("p/a")) a.Read(0, buf);
        Assert.Equal(TempPool.Pattern(1 << 20, 1), buf);
        clone.Read(0, buf);
        var expect = TempPool.Pattern(1 << 20, 1);
        TempPool.Pattern(512, 9).CopyTo(expect, 512);
        TempPool.Pattern(8192, 8).CopyTo(expect, 65536);
        Array.Clear(expect, 131072, 65536);
        Assert.Equal(expect, buf);
    }
}
