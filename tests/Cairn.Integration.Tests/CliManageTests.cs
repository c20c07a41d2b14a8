using Cairn.Engine.Tests.Zfs;
using Cairn.Integration.Tests.Support;

namespace Cairn.Integration.Tests;

/// <summary>
/// rename, rollback and promote through the real CLI and server, as a ZFS user would reach for them: the data each
/// leaves, the refusals (a rollback past a later snapshot, anything a target exports) and their exit codes, on an
/// embedded pool (<see cref="CliManageTests"/>) and on a real zpool (<see cref="ZfsManageTests"/>).
/// </summary>
public abstract class ManageFlow
{
    private const int Error = 1, Usage = 2, NotFound = 3;

    protected abstract CairnProcess Server { get; }

    protected abstract string Pool { get; }

    private static string Image(string tag, int seed)
    {
        var path = Path.Combine(Path.GetTempPath(), $"cairn-manage-{Guid.NewGuid():N}-{tag}.img");
        var data = new byte[4 << 20];
        new Random(seed).NextBytes(data.AsSpan(0, 1 << 20));
        File.WriteAllBytes(path, data);
        return path;
    }

    private async Task<byte[]> Export(string name)
    {
        var path = Path.Combine(Path.GetTempPath(), $"cairn-manage-{Guid.NewGuid():N}.out");
        try
        {
            (await Server.CliAsync("volume", "export", name, path)).Ok();
            return await File.ReadAllBytesAsync(path);
        }
        finally { File.Delete(path); }
    }

    private static void OneErrorLine(CliResult r, int code, string contains)
    {
        Assert.True(r.ExitCode == code, $"exit {r.ExitCode}, expected {code}: {r.Stderr}");
        Assert.StartsWith("error: ", r.Stderr, StringComparison.Ordinal);
        Assert.Single(r.Stderr.TrimEnd().Split('\n'));
        Assert.Contains(contains, r.Stderr, StringComparison.Ordinal);
    }

    protected async Task Rename_rollback_and_promote_as_zfs_does()
    {
        var f = $"{Pool}/m{Guid.NewGuid().ToString("N")[..6]}";
        var a = Image("a", 1);
        var b = Image("b", 2);
        try
        {
            (await Server.CliAsync("volume", "import", f + "/v", a, "--parents")).Ok();
            (await Server.CliAsync("snapshot", "create", f + "/v@s1")).Ok();
            (await Server.CliAsync("volume", "import", f + "/v", b, "--force")).Ok();
            (await Server.CliAsync("snapshot", "create", f + "/v@s2")).Ok();

            // Rollback: only to the most recent snapshot, unless asked to destroy the later ones.
            var refused = await Server.CliAsync("volume", "rollback", f + "/v@s1");
            OneErrorLine(refused, Error, f + "/v@s2");
            Assert.Equal(await File.ReadAllBytesAsync(b), await Export(f + "/v"));
            var rb = (await Server.CliAsync("volume", "rollback", f + "/v@s1", "--destroy-later", "--json")).Json();
            Assert.Equal(f + "/v@s2", rb["destroyed_snapshots"]![0]!.GetValue<string>());
            Assert.Equal(f + "/v", rb["volume"]!["name"]!.GetValue<string>());
            Assert.Equal(await File.ReadAllBytesAsync(a), await Export(f + "/v"));
            var text = (await Server.CliAsync("volume", "rollback", f + "/v@s1")).Ok().Stdout;
            Assert.Matches(@"(?m)^destroyed: +-$", text);

            // Rename: the volume keeps its id and snapshots; the snapshot keeps its clones.
            var id = (await Server.CliAsync("volume", "show", f + "/v", "--json")).Json()["id"]!.GetValue<string>();
            var renamed = (await Server.CliAsync("volume", "rename", f + "/v", f + "/sub/w", "--parents")).Ok().Stdout;
            Assert.Matches($@"(?m)^name: +{f}/sub/w$", renamed);
            Assert.Equal(id, (await Server.CliAsync("volume", "show", f + "/sub/w", "--json")).Json()["id"]!.GetValue<string>());
            OneErrorLine(await Server.CliAsync("volume", "show", f + "/v"), NotFound, f + "/v");
            Assert.Equal(f + "/sub/w@gold", (await Server.CliAsync("snapshot", "rename", f + "/sub/w@s1", "gold", "--json")).Json()["name"]!.GetValue<string>());
            (await Server.CliAsync("folder", "rename", f + "/sub", f + "/moved")).Ok();
            Assert.Single((await Server.CliAsync("snapshot", "list", f + "/moved/w", "--json")).Json().AsArray());

            // Promote: the clone takes the origin snapshot; the former origin can go while the clone lives on.
            (await Server.CliAsync("clone", f + "/moved/w@gold", f + "/c")).Ok();
            OneErrorLine(await Server.CliAsync("volume", "destroy", f + "/moved/w", "--recursive"), Error, f + "/c");
            var promoted = (await Server.CliAsync("volume", "promote", f + "/c", "--json")).Json();
            Assert.Null(promoted["origin"]);
            Assert.Equal(f + "/c@gold", (await Server.CliAsync("volume", "show", f + "/moved/w", "--json")).Json()["origin"]!.GetValue<string>());
            Assert.Equal(f + "/c@gold", (await Server.CliAsync("snapshot", "list", f + "/c", "--json")).Json()[0]!["name"]!.GetValue<string>());
            (await Server.CliAsync("volume", "destroy", f + "/moved/w")).Ok();
            Assert.Equal(await File.ReadAllBytesAsync(a), await Export(f + "/c"));

            // Bad input: one line, the documented code, nothing changed.
            OneErrorLine(await Server.CliAsync("volume", "rename", f + "/none", f + "/x"), NotFound, f + "/none");
            OneErrorLine(await Server.CliAsync("volume", "rename", f + "/c", "elsewhere/c"), Usage, "pool");
            OneErrorLine(await Server.CliAsync("volume", "promote", f + "/c"), Usage, "not a clone");
            OneErrorLine(await Server.CliAsync("snapshot", "rename", f + "/c@gold", "other/v@x"), Usage, "within its volume");
            OneErrorLine(await Server.CliAsync("volume", "rollback", f + "/c"), Usage, "@");
            Assert.Null((await Server.CliAsync("volume", "show", f + "/c", "--json")).Json()["origin"]);
        }
        finally
        {
            File.Delete(a);
            File.Delete(b);
        }
    }

    protected async Task What_a_target_exports_is_not_renamed_rolled_back_or_moved()
    {
        var f = $"{Pool}/e{Guid.NewGuid().ToString("N")[..6]}";
        var iqn = $"iqn.2026-01.io.cairn:manage-{Guid.NewGuid().ToString("N")[..6]}";
        (await Server.CliAsync("volume", "create", f + "/v", "--size", "16M", "--parents")).Ok();
        (await Server.CliAsync("snapshot", "create", f + "/v@s")).Ok();
        (await Server.CliAsync("clone", f + "/v@s", f + "/c")).Ok();
        (await Server.CliAsync("target", "create", iqn, "--volume", f + "/v")).Ok();
        OneErrorLine(await Server.CliAsync("volume", "rename", f + "/v", f + "/w"), Error, "exported by target " + iqn);
        OneErrorLine(await Server.CliAsync("folder", "rename", f, f + "x"), Error, "exported by target " + iqn);
        OneErrorLine(await Server.CliAsync("volume", "rollback", f + "/v@s"), Error, "exported by target " + iqn);
        (await Server.CliAsync("target", "delete", iqn)).Ok();

        // A snapshot that a promote would move (and so rename) is refused while exported, too.
        (await Server.CliAsync("target", "create", iqn, "--volume", f + "/v@s")).Ok();
        OneErrorLine(await Server.CliAsync("volume", "promote", f + "/c"), Error, f + "/v@s is exported");
        OneErrorLine(await Server.CliAsync("snapshot", "rename", f + "/v@s", "t"), Error, "exported");
        Assert.Equal(f + "/v@s", (await Server.CliAsync("volume", "show", f + "/c", "--json")).Json()["origin"]!.GetValue<string>());
        (await Server.CliAsync("target", "delete", iqn)).Ok();

        (await Server.CliAsync("volume", "promote", f + "/c")).Ok();
        (await Server.CliAsync("volume", "rename", f + "/v", f + "/w")).Ok();
        (await Server.CliAsync("volume", "destroy", f + "/w")).Ok();
        (await Server.CliAsync("volume", "destroy", f + "/c", "--recursive")).Ok();
    }
}

/// <summary>On an embedded pool of the class's own server.</summary>
public sealed class CliManageTests(SharedServer shared) : ManageFlow, IClassFixture<SharedServer>
{
    protected override CairnProcess Server => shared.Server;
    protected override string Pool => "tank";

    [Fact]
    public Task Rename_rollback_and_promote_work_as_in_zfs() => Rename_rollback_and_promote_as_zfs_does();

    [Fact]
    public Task Exported_volumes_and_snapshots_are_refused() => What_a_target_exports_is_not_renamed_rolled_back_or_moved();

    [Fact]
    public async Task Help_lists_the_commands_and_their_options()
    {
        var volume = (await Server.CliAsync("volume", "--help")).Ok().Stdout;
        foreach (var c in new[] { "rename", "rollback", "promote" }) Assert.Contains("  " + c, volume, StringComparison.Ordinal);
        Assert.Contains("--destroy-later", (await Server.CliAsync("volume", "rollback", "--help")).Ok().Stdout, StringComparison.Ordinal);
        Assert.Contains("  rename", (await Server.CliAsync("snapshot", "--help")).Ok().Stdout, StringComparison.Ordinal);
        Assert.Contains("  rename", (await Server.CliAsync("folder", "--help")).Ok().Stdout, StringComparison.Ordinal);
    }
}

/// <summary>kill -9 right after acknowledged renames, a rollback and a promote: the restarted server has them all, with the records in step.</summary>
public sealed class ManageCrashTests
{
    [Fact]
    public async Task Acknowledged_rename_rollback_and_promote_survive_sigkill()
    {
        var data = TempDir.Create("cairn-manage-crash");
        string vid, cid;
        await using (var first = await CairnProcess.StartAsync(data))
        {
            (await first.CliAsync("volume", "create", "t/a/v", "--size", "16M", "--parents")).Ok();
            (await first.CliAsync("snapshot", "create", "t/a/v@s1")).Ok();
            (await first.CliAsync("snapshot", "create", "t/a/v@s2")).Ok();
            (await first.CliAsync("volume", "rollback", "t/a/v@s1", "-r")).Ok();
            (await first.CliAsync("folder", "rename", "t/a", "t/b")).Ok();
            (await first.CliAsync("snapshot", "rename", "t/b/v@s1", "gold")).Ok();
            cid = (await first.CliAsync("clone", "t/b/v@gold", "t/c", "--json")).Json()["id"]!.GetValue<string>();
            (await first.CliAsync("volume", "promote", "t/c")).Ok();
            vid = (await first.CliAsync("volume", "show", "t/b/v", "--json")).Json()["id"]!.GetValue<string>();
            first.Kill();
        }
        await using var again = await CairnProcess.StartAsync(data);
        var v = (await again.CliAsync("volume", "show", "t/b/v", "--json")).Json();
        Assert.Equal(vid, v["id"]!.GetValue<string>());
        Assert.Equal("t/c@gold", v["origin"]!.GetValue<string>());
        var c = (await again.CliAsync("volume", "show", "t/c", "--json")).Json();
        Assert.Equal(cid, c["id"]!.GetValue<string>());
        Assert.Null(c["origin"]);
        Assert.Equal(["t/c@gold"], (await again.CliAsync("snapshot", "list", "t/c", "--json")).Json().AsArray().Select(x => x!["name"]!.GetValue<string>()));
        Assert.Empty((await again.CliAsync("snapshot", "list", "t/b/v", "--json")).Json().AsArray());
        var names = (await again.CliAsync("volume", "list", "t", "--json")).Json().AsArray().Select(x => x!["name"]!.GetValue<string>()).ToList();
        Assert.DoesNotContain("t/a", names);
        Assert.DoesNotContain("t/a/v", names);
        (await again.CliAsync("volume", "destroy", "t/b/v")).Ok();
        Assert.Equal(cid, (await again.CliAsync("volume", "show", "t/c", "--json")).Json()["id"]!.GetValue<string>());
    }
}

/// <summary>The same through a server whose pool is a real zpool (zfs-fuse): zfs rename, rollback -r and promote.</summary>
public sealed class ZfsManageTests(ZfsPoolFixture zfs) : ManageFlow, IClassFixture<ZfsPoolFixture>, IAsyncLifetime
{
    private CairnProcess _server = null!;

    protected override CairnProcess Server => _server;
    protected override string Pool => zfs.Pool;

    public async ValueTask InitializeAsync() =>
        _server = await CairnProcess.StartAsync(env: new Dictionary<string, string> { ["CAIRN_POOLS"] = zfs.Pool + ":zfs" });

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public Task Rename_rollback_and_promote_work_on_a_zpool() => Rename_rollback_and_promote_as_zfs_does();

    [Fact]
    public Task Exported_zfs_volumes_are_refused() => What_a_target_exports_is_not_renamed_rolled_back_or_moved();
}
