using System.Text.Json.Nodes;
using Cairn.Integration.Tests.Support;
using Cairn.TestSupport;

namespace Cairn.Integration.Tests.BlockStorage;

/// <summary>What the StarlingX tools and clients need of a real <c>cairn serve</c>: archives made by plain GNU tar and gzip import; every archive Cairn writes reads back byte for byte through GNU tar, gzip and Python's tarfile; the StarlingX client's calls (python-cinderclient with <c>wrs-header</c>, <c>_action</c>) and raw openstacksdk calls; <c>cinder show</c> without the header has no wrs fields.</summary>
public sealed class StarlingXToolTests(OpenStackCloud cloud) : IClassFixture<OpenStackCloud>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(5);

    internal static string Repo
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Cairn.slnx"))) return d.FullName;
            throw new InvalidOperationException("Cairn.slnx not found above " + AppContext.BaseDirectory);
        }
    }

    internal static string Client => Path.Combine(Repo, "tests", "clients", "starlingx_client.py");

    internal static async Task<string> RunAsync(string tool, IReadOnlyDictionary<string, string?>? env, CairnProcess server, params string[] args)
    {
        var r = await Commands.RunAsync(tool, args, Timeout, env);
        Assert.True(r.Exit() == 0, $"{tool} {string.Join(' ', args)} exited {r.Exit()}\n{r.Output()}\nserver:\n{string.Join('\n', server.Log.Split('\n').TakeLast(40))}");
        return r.StdOut;
    }

    internal static Task<string> ShAsync(string script, CairnProcess server) => RunAsync("bash", null, server, "-euo", "pipefail", "-c", script);

    internal static string Q(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    internal static void RequireTools()
    {
        ExternalTool.Require("tar", "tar");
        ExternalTool.Require("gzip", "gzip");
        ExternalTool.Require("cmp", "diffutils");
        ExternalTool.Require("/usr/bin/python3", "python3");
        ExternalTool.Require("cinder", "python3-cinderclient");
    }

    /// <summary>A 1 GiB raw image with random data at a few places, and the original's meta, tarred the original's way (<c>tar czf</c>, full image) into the backup directory.</summary>
    internal static async Task<(string Raw, string Archive)> OriginalArchiveAsync(string dir, string backupDir, string volume, int mib, CairnProcess server, bool sparseTar = false)
    {
        var work = Path.Combine(dir, "orig-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(work);
        Directory.CreateDirectory(backupDir);
        var raw = Path.Combine(work, $"volume-{volume}.vol");
        await File.WriteAllTextAsync(Path.Combine(work, $"volume-{volume}.meta"),
            new JsonObject { ["version"] = 1, ["size"] = 1, ["volume"] = new JsonObject { ["id"] = volume, ["size"] = 1, ["display_name"] = "orig" }, ["metadata"] = new JsonObject { ["origin"] = "starlingx" }, ["attachments"] = new JsonArray() }.ToJsonString());
        var name = $"volume-{volume}-20260101-{Random.Shared.Next(0, 23):00}{Random.Shared.Next(0, 59):00}{Random.Shared.Next(0, 59):00}.tgz";
        var archive = Path.Combine(backupDir, name);
        await ShAsync($"""
            cd {Q(work)}
            truncate -s 1G {Q(raw)}
            dd if=/dev/urandom of={Q(raw)} bs=1M count={mib} conv=notrunc status=none
            dd if=/dev/urandom of={Q(raw)} bs=1M count=1 seek=700 conv=notrunc status=none
            dd if=/dev/urandom of={Q(raw)} bs=4096 count=1 seek=$((1024*256-1)) conv=notrunc status=none
            tar {(sparseTar ? "-S " : "")}-czf {Q(archive)} volume-{volume}.meta volume-{volume}.vol
            """, server);
        return (raw, name);
    }

    [Fact]
    public async Task A_tar_czf_archive_imports_and_the_export_reads_back_byte_for_byte_through_tar_gzip_and_tarfile()
    {
        RequireTools();
        var env = cloud.Admin.Environment();
        var server = cloud.Server;
        var backups = OpenStackCloud.BackupDirOf(cloud.DataDir);
        var vol = (await RunAsync("/usr/bin/python3", env, server, Client, "create", "sx-tools")).Trim();
        var (raw, original) = await OriginalArchiveAsync(cloud.Dir, backups, vol, 8, server);

        var imported = await RunAsync("/usr/bin/python3", env, server, Client, "import", vol, original);
        Assert.StartsWith("Import completed at ", imported, StringComparison.Ordinal);
        var exported = await RunAsync("/usr/bin/python3", env, server, Client, "export", vol);
        Assert.StartsWith("Export completed at ", exported, StringComparison.Ordinal);
        var archive = Assert.Single(Directory.GetFiles(backups, $"volume-{vol}-*.tgz").Select(Path.GetFileName), f => f != original)!;
        Assert.Empty(Directory.GetFiles(backups, ".*"));
        var a = Path.Combine(backups, archive);

        // The original's restore procedure, gzip's own check and Python's tarfile: all give the raw image byte for byte.
        await ShAsync($"gzip -t {Q(a)}", server);
        await ShAsync($"tar -xzf {Q(a)} -O volume-{vol}.vol | cmp - {Q(raw)}", server);
        await ShAsync($"tar -tzf {Q(a)} | sort | tr '\\n' ' ' | grep -qx 'volume-{vol}.meta volume-{vol}.vol '", server);
        var py = $"""
            import hashlib, tarfile
            t = tarfile.open({Q(a).Replace("'", "\"", StringComparison.Ordinal)})
            f = t.extractfile("volume-{vol}.vol")
            h = hashlib.sha256()
            while b := f.read(1 << 20): h.update(b)
            r = hashlib.sha256()
            with open({Q(raw).Replace("'", "\"", StringComparison.Ordinal)}, "rb") as g:
                while b := g.read(1 << 20): r.update(b)
            assert h.hexdigest() == r.hexdigest(), (h.hexdigest(), r.hexdigest())
            import json
            m = json.load(t.extractfile("volume-{vol}.meta"))
            assert m["version"] == 1 and m["volume"]["id"] == "{vol}", m
            print("tarfile ok")
            """;
        Assert.Contains("tarfile ok", await RunAsync("/usr/bin/python3", null, server, "-c", py), StringComparison.Ordinal);

        // cinder show without the header: no wrs fields; openstacksdk's raw calls with and without it.
        var show = await RunAsync("cinder", env, server, "show", vol);
        Assert.DoesNotContain("wrs-", show, StringComparison.Ordinal);
        Assert.Contains("backup_status", await RunAsync("/usr/bin/python3", env, server, Client, "sdk", vol), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_archive_exported_by_cairn_imports_into_a_new_volume_made_by_cinder()
    {
        RequireTools();
        var env = cloud.Admin.Environment();
        var server = cloud.Server;
        var backups = OpenStackCloud.BackupDirOf(cloud.DataDir);
        var src = (await RunAsync("/usr/bin/python3", env, server, Client, "create", "sx-src")).Trim();
        var (raw, original) = await OriginalArchiveAsync(cloud.Dir, backups, src, 2, server, sparseTar: true);
        await RunAsync("/usr/bin/python3", env, server, Client, "import", src, original);
        await RunAsync("/usr/bin/python3", env, server, Client, "export", src);
        var archive = Directory.GetFiles(backups, $"volume-{src}-*.tgz").Select(Path.GetFileName).Single(f => f != original)!;
        // Re-import into the same volume with cinderclient (the StarlingX path), then read it back through another export.
        await RunAsync("/usr/bin/python3", env, server, Client, "import", src, archive);
        await Task.Delay(1100, TestContext.Current.CancellationToken); // a new second: a new archive name
        await RunAsync("/usr/bin/python3", env, server, Client, "export", src);
        var again = Directory.GetFiles(backups, $"volume-{src}-*.tgz").Select(Path.GetFileName).Single(f => f != original && f != archive)!;
        await ShAsync($"tar -xzf {Q(Path.Combine(backups, again))} -O volume-{src}.vol | cmp - {Q(raw)}", server);
    }
}
