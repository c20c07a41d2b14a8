using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Cairn.Archive;
using Cairn.Core.Jobs;
using Cairn.Core.Services;
using Cairn.Core.State;
using Microsoft.Extensions.DependencyInjection;

namespace Cairn.Api.Tests.BlockStorage;

/// <summary>
/// StarlingX export and import through the in-process server (seed 002): the original's actions, answers, status
/// transitions and backup_status strings, refusals that change nothing, and imports that leave the volume exactly as it
/// was when the archive is bad. Real tools reading and writing the archives: tests/Cairn.Integration.Tests/BlockStorage/StarlingXToolTests.
/// </summary>
public sealed partial class StarlingXTests(BlockStorageHost h) : IClassFixture<BlockStorageHost>
{
    private const string P = BlockStorageHost.Project;
    private static readonly Dictionary<string, string> Wrs = new() { ["wrs-header"] = "true" };
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [GeneratedRegex(@"^(Export|Import|Snapshot export) (started|completed) at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?$")]
    private static partial Regex StatusLine();

    private Task<BlockStorageHost.Answer> Act(string id, string body) => h.SendAsync("POST", $"/v3/{P}/volumes/{id}/action", body);

    private async Task<JsonNode> ShowAsync(string id, bool wrs = true) =>
        (await h.SendAsync("GET", $"/v3/{P}/volumes/{id}", headers: wrs ? Wrs : null)).Body!["volume"]!;

    /// <summary>Waits (generous timeout) until the volume leaves <paramref name="transitional"/>; returns its view with the wrs fields.</summary>
    private async Task<JsonNode> WaitAsync(string id, string transitional, string path = "volumes", string entity = "volume")
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromMinutes(2));
        while (true)
        {
            var v = (await h.SendAsync("GET", $"/v3/{P}/{path}/{id}", headers: Wrs)).Body![entity]!;
            if (v["status"]!.GetValue<string>() != transitional) return v;
            await Task.Delay(20, cts.Token);
        }
    }

    private string DatasetOf(string id) => h.Services.GetRequiredService<IStateStore>().GetVolume(Guid.Parse(id))!.Name;

    private async Task WriteAsync(string id, long offset, byte[] data)
    {
        using var dev = await h.Services.GetRequiredService<VolumeService>().OpenAsync(DatasetOf(id), ct: Ct);
        dev.Write(offset, data, fua: true);
    }

    private async Task<byte[]> ReadAsync(string id, long offset, int length)
    {
        using var dev = await h.Services.GetRequiredService<VolumeService>().OpenAsync(DatasetOf(id), ct: Ct);
        var b = new byte[length];
        dev.Read(offset, b);
        return b;
    }

    private static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    private string[] Archives(string id) => Directory.Exists(h.BackupDir)
        ? [.. Directory.GetFiles(h.BackupDir, $"volume-{id}-*.tgz").Select(Path.GetFileName).Order(StringComparer.Ordinal)!]
        : [];

    private string[] TempFiles() => Directory.Exists(h.BackupDir) ? Directory.GetFiles(h.BackupDir, ".*") : [];

    private async Task<string> ExportAsync(string id)
    {
        var before = Archives(id);
        var r = await Act(id, """{"wrs-volume:os-volume_export": null}""");
        Assert.True(r.Code == HttpStatusCode.Accepted, r.Text);
        var done = await WaitAsync(id, "exporting");
        Assert.StartsWith("Export completed at ", done["wrs-volume:backup_status"]!.GetValue<string>(), StringComparison.Ordinal);
        return Assert.Single(Archives(id).Except(before));
    }

    [Fact]
    public async Task Export_answers_exporting_then_the_volume_is_available_with_the_archive_and_its_status_line()
    {
        var id = await h.CreateVolumeAsync(1);
        var data = Pattern(1 << 20, 1);
        await WriteAsync(id, 5 << 20, data);
        var r = await Act(id, """{"wrs-volume:os-volume_export": null}""");
        Assert.Equal(HttpStatusCode.Accepted, r.Code);
        var answer = r.Body!["wrs-volume:os-volume_export"]!;
        Assert.Equal(["display_description", "id", "size", "status", "updated_at", "volume_type"], answer.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.Equal("exporting", answer["status"]!.GetValue<string>());
        Assert.Equal(id, answer["id"]!.GetValue<string>());
        Assert.Equal(1, answer["size"]!.GetValue<int>());

        var done = await WaitAsync(id, "exporting");
        Assert.Equal("available", done["status"]!.GetValue<string>());
        var line = done["wrs-volume:backup_status"]!.GetValue<string>();
        Assert.Matches(StatusLine(), line);
        Assert.StartsWith("Export completed at ", line, StringComparison.Ordinal);
        Assert.Null(done["wrs-volume:backup_progress"]);
        var file = Assert.Single(Archives(id));
        Assert.True(ArchiveNames.TryParse(file, out var of, out _) && of == Guid.Parse(id), file);
        Assert.Equal(id, file[7..^20]); // the StarlingX client's file_name[7:-20]
        Assert.Empty(TempFiles());

        // The archive holds the volume's bytes (the real tools read it in the integration tests).
        await using var f = BackupDirectory.OpenRead(h.BackupDir, file);
        var got = new Dictionary<long, byte[]>();
        var result = await ArchiveReader.ReadAsync(f, (e, _) => { got[e.Offset] = e.Data.ToArray(); return ValueTask.CompletedTask; }, ct: Ct);
        Assert.True(result.DigestVerified);
        Assert.Equal(1L << 30, result.ImageSize);
        Assert.Equal(data, got.OrderBy(p => p.Key).SelectMany(p => p.Value).ToArray());
        Assert.Equal(5L << 20, got.Keys.Min());
        Assert.Equal("1", result.Meta["version"]!.ToJsonString());
        Assert.Equal(id, result.Meta["volume"]!["id"]!.GetValue<string>());

        // The internal point-in-time snapshot is gone, and no snapshot is visible.
        Assert.Empty(await h.Services.GetRequiredService<VolumeService>().ListSnapshotsAsync(DatasetOf(id), Ct));
        Assert.Empty((await h.SendAsync("GET", $"/v3/{P}/snapshots?volume_id={id}")).Body!["snapshots"]!.AsArray());
    }

    [Fact]
    public async Task Without_the_wrs_header_no_wrs_field_is_shown()
    {
        var id = await h.CreateVolumeAsync(1);
        await ExportAsync(id);
        var plain = await ShowAsync(id, wrs: false);
        Assert.DoesNotContain(plain.AsObject(), p => p.Key.StartsWith("wrs-", StringComparison.Ordinal));
        var detail = (await h.SendAsync("GET", $"/v3/{P}/volumes/detail")).Body!["volumes"]!.AsArray();
        Assert.DoesNotContain(detail.SelectMany(v => v!.AsObject()), p => p.Key.StartsWith("wrs-", StringComparison.Ordinal));
        var wrsDetail = (await h.SendAsync("GET", $"/v3/{P}/volumes/detail", headers: Wrs)).Body!["volumes"]!.AsArray();
        Assert.StartsWith("Export completed at ", wrsDetail.Single(v => v!["id"]!.GetValue<string>() == id)!["wrs-volume:backup_status"]!.GetValue<string>(), StringComparison.Ordinal);
        // A volume never exported shows the field as null.
        var other = await h.CreateVolumeAsync(1);
        var shown = await ShowAsync(other);
        Assert.True(shown.AsObject().ContainsKey("wrs-volume:backup_status"));
        Assert.Null(shown["wrs-volume:backup_status"]);
    }

    [Fact]
    public async Task Import_brings_back_the_exported_data_into_the_same_volume_id_and_keeps_it_thin()
    {
        var id = await h.CreateVolumeAsync(1);
        var first = Pattern(256 << 10, 2);
        await WriteAsync(id, 0, first);
        var file = await ExportAsync(id);
        await WriteAsync(id, 0, Pattern(256 << 10, 3));
        await WriteAsync(id, 512L << 20, Pattern(4096, 4));

        var r = await Act(id, new JsonObject { ["wrs-volume:os-volume_import"] = new JsonObject { ["file_name"] = file } }.ToJsonString());
        Assert.Equal(HttpStatusCode.Accepted, r.Code);
        Assert.Equal("importing", r.Body!["wrs-volume:os-volume_import"]!["status"]!.GetValue<string>());
        var done = await WaitAsync(id, "importing");
        Assert.Equal("available", done["status"]!.GetValue<string>());
        Assert.Matches(StatusLine(), done["wrs-volume:backup_status"]!.GetValue<string>());
        Assert.StartsWith("Import completed at ", done["wrs-volume:backup_status"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(first, await ReadAsync(id, 0, first.Length));
        Assert.Equal(new byte[4096], await ReadAsync(id, 512L << 20, 4096));
        // Thin: only the written 256 KiB are allocated; and only this volume's dataset is left (the replaced one is gone).
        using (var dev = await h.Services.GetRequiredService<VolumeService>().OpenAsync(DatasetOf(id), ct: Ct))
            Assert.Equal(256L << 10, dev.GetAllocatedRanges(0, dev.Size).Sum(x => x.Length));
        var datasets = (await h.Services.GetRequiredService<VolumeService>().ListAsync("tank", Ct)).Select(d => d.Dataset.Name).ToList();
        Assert.Single(datasets, d => d.Contains(id, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Snapshot_export_under_both_keys_leaves_the_volume_status_alone()
    {
        var id = await h.CreateVolumeAsync(1);
        await WriteAsync(id, 0, Pattern(8192, 5));
        foreach (var key in new[] { "wrs-snapshot:os-export_snapshot", "wrs-snapshot:os-snapshot_export" })
        {
            var snap = (await h.SendAsync("POST", $"/v3/{P}/snapshots", new JsonObject { ["snapshot"] = new JsonObject { ["volume_id"] = id } }.ToJsonString())).Body!["snapshot"]!["id"]!.GetValue<string>();
            await WaitAsync(snap, "creating", "snapshots", "snapshot");
            var before = Archives(id);
            var r = await h.SendAsync("POST", $"/v3/{P}/snapshots/{snap}/action", new JsonObject { [key] = null }.ToJsonString());
            Assert.Equal(HttpStatusCode.Accepted, r.Code);
            var answer = r.Body![key]!;
            Assert.Equal(["display_description", "id", "status", "updated_at", "volume_size", "volume_type"], answer.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal));
            Assert.Equal("exporting", answer["status"]!.GetValue<string>());
            Assert.Equal("available", (await ShowAsync(id))["status"]!.GetValue<string>());
            var s = await WaitAsync(snap, "exporting", "snapshots", "snapshot");
            Assert.Equal("available", s["status"]!.GetValue<string>());
            Assert.Equal("100%", s["os-extended-snapshot-attributes:progress"]!.GetValue<string>());
            Assert.StartsWith("Export completed at ", s["wrs-snapshot:backup_status"]!.GetValue<string>(), StringComparison.Ordinal);
            var v = await ShowAsync(id);
            Assert.Equal("available", v["status"]!.GetValue<string>());
            Assert.StartsWith("Snapshot export completed at ", v["wrs-volume:backup_status"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.Single(Archives(id).Except(before)); // named after the parent volume
            var plain = (await h.SendAsync("GET", $"/v3/{P}/snapshots/{snap}")).Body!["snapshot"]!;
            Assert.DoesNotContain(plain.AsObject(), p => p.Key.StartsWith("wrs-", StringComparison.Ordinal));
            // One export per second and volume: the next one gets its own name.
            await Task.Delay(1100, Ct);
        }
    }

    [Fact]
    public async Task Bad_file_names_are_refused_and_change_nothing()
    {
        var id = await h.CreateVolumeAsync(1);
        var file = await ExportAsync(id);
        var before = await ShowAsync(id);
        Directory.CreateDirectory(Path.Combine(h.BackupDir, "adir"));
        File.CreateSymbolicLink(Path.Combine(h.BackupDir, "link.tgz"), Path.Combine(h.BackupDir, file));
        File.CreateSymbolicLink(Path.Combine(h.BackupDir, "out.tgz"), "/etc/passwd");
        Assert.Equal(0, Mono.Mkfifo(Path.Combine(h.BackupDir, "fifo.tgz")));
        foreach (var (name, code) in new (string?, HttpStatusCode)[]
        {
            ("../" + file, HttpStatusCode.BadRequest), ("/etc/passwd", HttpStatusCode.BadRequest), ("adir/x", HttpStatusCode.BadRequest),
            (".", HttpStatusCode.BadRequest), ("..", HttpStatusCode.BadRequest), ("", HttpStatusCode.BadRequest), (null, HttpStatusCode.BadRequest),
            ("link.tgz", HttpStatusCode.BadRequest), ("out.tgz", HttpStatusCode.BadRequest), ("fifo.tgz", HttpStatusCode.BadRequest),
            ("adir", HttpStatusCode.BadRequest), ("a\0b", HttpStatusCode.BadRequest),
            ($"volume-{id}-20200101-000000.tgz", HttpStatusCode.NotFound),
        })
        {
            var body = new JsonObject { ["wrs-volume:os-volume_import"] = name is null ? new JsonObject() : new JsonObject { ["file_name"] = name } };
            var r = await Act(id, body.ToJsonString());
            Assert.True(r.Code == code, $"{name}: {r.Code} {r.Text}");
            Assert.Contains(r.Code == HttpStatusCode.NotFound ? "itemNotFound" : "badRequest", r.Text, StringComparison.Ordinal);
        }
        // An archive of another volume needs cross_volume; the export action takes no parameters.
        var other = await h.CreateVolumeAsync(1);
        var cross = await Act(other, new JsonObject { ["wrs-volume:os-volume_import"] = new JsonObject { ["file_name"] = file } }.ToJsonString());
        Assert.Equal(HttpStatusCode.BadRequest, cross.Code);
        Assert.Contains("cross_volume", cross.Text, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, (await Act(id, """{"wrs-volume:os-volume_import": {"file_name": "x", "nope": 1}}""")).Code);
        Assert.Equal(HttpStatusCode.BadRequest, (await Act(id, """{"wrs-volume:os-volume_export": {"file_name": "x"}}""")).Code);
        var after = await ShowAsync(id);
        Assert.Equal(before.ToJsonString(), after.ToJsonString());
        Assert.Equal("available", (await ShowAsync(other))["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Preconditions_of_the_original_are_refused_with_400()
    {
        var id = await h.CreateVolumeAsync(1);
        var file = await ExportAsync(id);
        var snap = (await h.SendAsync("POST", $"/v3/{P}/snapshots", new JsonObject { ["snapshot"] = new JsonObject { ["volume_id"] = id } }.ToJsonString())).Body!["snapshot"]!["id"]!.GetValue<string>();
        var withSnap = await Act(id, new JsonObject { ["wrs-volume:os-volume_import"] = new JsonObject { ["file_name"] = file } }.ToJsonString());
        Assert.Equal(HttpStatusCode.BadRequest, withSnap.Code);
        Assert.Contains("snapshots", withSnap.Text, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("DELETE", $"/v3/{P}/snapshots/{snap}")).Code);
        Assert.Equal(HttpStatusCode.Accepted, (await Act(id, """{"os-reset_status": {"status": "maintenance"}}""")).Code);
        Assert.Equal(HttpStatusCode.BadRequest, (await Act(id, """{"wrs-volume:os-volume_export": null}""")).Code);
        Assert.Equal(HttpStatusCode.BadRequest, (await Act(id, new JsonObject { ["wrs-volume:os-volume_import"] = new JsonObject { ["file_name"] = file } }.ToJsonString())).Code);
        Assert.Equal("maintenance", (await ShowAsync(id))["status"]!.GetValue<string>());
        // A reader may not export.
        Assert.Equal(HttpStatusCode.Forbidden, (await h.SendAsync("POST", $"/v3/{P}/volumes/{id}/action", """{"wrs-volume:os-volume_export": null}""", token: "reader:" + P)).Code);
    }

    [Fact]
    public async Task Export_of_an_in_use_volume_goes_back_to_in_use()
    {
        var id = await h.CreateVolumeAsync(1);
        var data = Pattern(4096, 6);
        await WriteAsync(id, 0, data);
        Assert.Equal(HttpStatusCode.Accepted, (await Act(id, """{"os-reset_status": {"status": "in-use"}}""")).Code);
        var r = await Act(id, """{"wrs-volume:os-volume_export": null}""");
        Assert.Equal(HttpStatusCode.Accepted, r.Code);
        var done = await WaitAsync(id, "exporting");
        Assert.Equal("in-use", done["status"]!.GetValue<string>());
        Assert.StartsWith("Export completed at ", done["wrs-volume:backup_status"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Single(Archives(id));
    }

    [Fact]
    public async Task Corrupt_truncated_and_mismatched_archives_are_refused_with_a_reason_and_the_volume_is_unchanged()
    {
        var id = await h.CreateVolumeAsync(1);
        await WriteAsync(id, 0, Pattern(3 << 20, 7));
        var file = await ExportAsync(id);
        var now = Pattern(64 << 10, 8);
        await WriteAsync(id, 0, now);
        var bytes = await File.ReadAllBytesAsync(Path.Combine(h.BackupDir, file), Ct);
        var stamp = 0;
        async Task<string> Bad(byte[] content)
        {
            // Names the StarlingX client accepts, each its own second.
            var name = $"volume-{id}-2001010{1 + stamp / 60}-0000{stamp++ % 60:00}.tgz";
            await File.WriteAllBytesAsync(Path.Combine(h.BackupDir, name), content, Ct);
            return name;
        }
        var corrupt = (byte[])bytes.Clone();
        corrupt[corrupt.Length / 2] ^= 0xff;
        var cases = new[]
        {
            (await Bad(bytes[..(bytes.Length / 2)]), ""),
            (await Bad(corrupt), ""),
            (await Bad([.. "not an archive at all, just text"u8]), ""),
        };
        foreach (var (name, _) in cases)
        {
            var r = await Act(id, new JsonObject { ["wrs-volume:os-volume_import"] = new JsonObject { ["file_name"] = name } }.ToJsonString());
            Assert.Equal(HttpStatusCode.Accepted, r.Code);
            var done = await WaitAsync(id, "importing");
            Assert.Equal("available", done["status"]!.GetValue<string>());
            var line = done["wrs-volume:backup_status"]!.GetValue<string>();
            Assert.Matches(@"^Import failed at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})? Reason: \S", line);
            Assert.Equal(now, await ReadAsync(id, 0, now.Length));
        }
        var datasets = (await h.Services.GetRequiredService<VolumeService>().ListAsync("tank", Ct)).Select(d => d.Dataset.Name).ToList();
        Assert.Single(datasets, d => d.Contains(id, StringComparison.Ordinal));

        // A volume in error that fails an import stays in error; a good import makes it available.
        Assert.Equal(HttpStatusCode.Accepted, (await Act(id, """{"os-reset_status": {"status": "error"}}""")).Code);
        Assert.Equal(HttpStatusCode.Accepted, (await Act(id, new JsonObject { ["wrs-volume:os-volume_import"] = new JsonObject { ["file_name"] = cases[0].Item1 } }.ToJsonString())).Code);
        Assert.Equal("error", (await WaitAsync(id, "importing"))["status"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Accepted, (await Act(id, new JsonObject { ["wrs-volume:os-volume_import"] = new JsonObject { ["file_name"] = file } }.ToJsonString())).Code);
        Assert.Equal("available", (await WaitAsync(id, "importing"))["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Cross_volume_restore_into_a_new_volume_with_the_archive_metadata()
    {
        var src = await h.CreateVolumeAsync(1, extra: new JsonObject { ["metadata"] = new JsonObject { ["app"] = "db", ["tier"] = "gold" } });
        var data = Pattern(128 << 10, 9);
        await WriteAsync(src, 1 << 20, data);
        var file = await ExportAsync(src);
        var dst = await h.CreateVolumeAsync(1, extra: new JsonObject { ["metadata"] = new JsonObject { ["mine"] = "x" } });
        var r = await Act(dst, new JsonObject { ["wrs-volume:os-volume_import"] = new JsonObject { ["file_name"] = file, ["cross_volume"] = true, ["restore_metadata"] = true } }.ToJsonString());
        Assert.Equal(HttpStatusCode.Accepted, r.Code);
        var done = await WaitAsync(dst, "importing");
        Assert.Equal("available", done["status"]!.GetValue<string>());
        Assert.Equal(data, await ReadAsync(dst, 1 << 20, data.Length));
        Assert.Equal("""{"app":"db","tier":"gold"}""", done["metadata"]!.ToJsonString());
        // Without restore_metadata the volume keeps its own.
        var dst2 = await h.CreateVolumeAsync(1, extra: new JsonObject { ["metadata"] = new JsonObject { ["mine"] = "y" } });
        Assert.Equal(HttpStatusCode.Accepted, (await Act(dst2, new JsonObject { ["wrs-volume:os-volume_import"] = new JsonObject { ["file_name"] = file, ["cross_volume"] = true } }.ToJsonString())).Code);
        var done2 = await WaitAsync(dst2, "importing");
        Assert.Equal("""{"mine":"y"}""", done2["metadata"]!.ToJsonString());
        // An archive larger than the volume is refused (the volume unchanged).
        var big = await h.CreateVolumeAsync(2);
        await WriteAsync(big, (2L << 30) - 4096, Pattern(4096, 10));
        var bigFile = await ExportAsync(big);
        Assert.Equal(HttpStatusCode.Accepted, (await Act(dst2, new JsonObject { ["wrs-volume:os-volume_import"] = new JsonObject { ["file_name"] = bigFile, ["cross_volume"] = true } }.ToJsonString())).Code);
        var refused = await WaitAsync(dst2, "importing");
        Assert.Equal("available", refused["status"]!.GetValue<string>());
        Assert.StartsWith("Import failed at ", refused["wrs-volume:backup_status"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(data, await ReadAsync(dst2, 1 << 20, data.Length));
    }

    [Fact]
    public async Task A_repeated_export_while_one_runs_answers_with_the_running_one()
    {
        var id = await h.CreateVolumeAsync(1);
        // Enough data that the export is still running when the second request arrives.
        for (int i = 0; i < 16; i++) await WriteAsync(id, (long)i << 24, Pattern(16 << 20, 100 + i));
        var jobs = h.Services.GetRequiredService<JobEngine>();
        var first = await Act(id, """{"wrs-volume:os-volume_export": null}""");
        var second = await Act(id, """{"wrs-volume:os-volume_export": null}""");
        Assert.Equal(HttpStatusCode.Accepted, second.Code);
        Assert.Equal("exporting", first.Body!["wrs-volume:os-volume_export"]!["status"]!.GetValue<string>());
        Assert.Equal("exporting", second.Body!["wrs-volume:os-volume_export"]!["status"]!.GetValue<string>());
        var shown = await ShowAsync(id);
        if (shown["status"]!.GetValue<string>() == "exporting")
        {
            var progress = shown["wrs-volume:backup_progress"];
            if (progress is not null) Assert.True(progress["bytes_done"]!.GetValue<long>() <= progress["bytes_total"]!.GetValue<long>());
        }
        await WaitAsync(id, "exporting");
        Assert.Single(jobs.List(null, 1000), j => j.Type == "block-storage.volume-export" && j.Request!["volume_id"]!.GetValue<string>() == id);
        Assert.Single(Archives(id));
    }
}

internal static partial class Mono
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "mkfifo", StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    public static partial int Mkfifo(string path, uint mode = 0x180);
}
