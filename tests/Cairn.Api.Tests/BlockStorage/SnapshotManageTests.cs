using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Cairn.Core.Services;
using Cairn.Core.State;
using Microsoft.Extensions.DependencyInjection;

namespace Cairn.Api.Tests.BlockStorage;

/// <summary>
/// Manage existing snapshots: an admin volume with an admin snapshot is managed (its snapshot stays the admin's and is
/// listed by manageable_snapshots), the snapshot is managed (os-snapshot-manage), used, unmanaged and managed again,
/// against the real server and python-cinderclient; every refusal changes nothing.
/// </summary>
public sealed class SnapshotManageTests(BlockStorageHost h) : IClassFixture<BlockStorageHost>
{
    private const string P = BlockStorageHost.Project;
    private const string Host = "cairn@cairn#tank";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private VolumeService Engine => h.Services.GetRequiredService<VolumeService>();
    private IStateStore Store => h.Services.GetRequiredService<IStateStore>();

    /// <summary>An admin volume with data and an admin snapshot of it, both made through the admin API.</summary>
    private async Task<(string Name, byte[] Data)> AdminVolumeWithSnapshotAsync(string snapshot = "s1")
    {
        var name = "legacy-" + Guid.NewGuid().ToString("N")[..8];
        var data = new byte[1 << 20];
        new Random(name.GetHashCode(StringComparison.Ordinal)).NextBytes(data);
        using (var content = new ByteArrayContent(data))
        {
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            using var resp = await h.Http.PutAsync($"/cairn/v1/volume-data/tank/{name}", content, Ct);
            Assert.True(resp.StatusCode == HttpStatusCode.Created, await resp.Content.ReadAsStringAsync(Ct));
        }
        using var body = Json(new JsonObject { ["name"] = $"tank/{name}@{snapshot}" });
        using (var snap = await h.Http.PostAsync("/cairn/v1/snapshots", body, Ct))
            Assert.True(snap.StatusCode == HttpStatusCode.Created, await snap.Content.ReadAsStringAsync(Ct));
        return (name, data);
    }

    private static StringContent Json(JsonObject o) => new(o.ToJsonString(), System.Text.Encoding.UTF8, "application/json");

    private async Task<string> ManageVolumeAsync(string name)
    {
        var v = new JsonObject { ["host"] = Host, ["ref"] = new JsonObject { ["source-name"] = name }, ["name"] = "adopted" };
        var m = await h.SendAsync("POST", $"/v3/{P}/os-volume-manage", new JsonObject { ["volume"] = v }.ToJsonString());
        Assert.True(m.Code == HttpStatusCode.Accepted, m.Text);
        return m.Body!["volume"]!["id"]!.GetValue<string>();
    }

    private Task<BlockStorageHost.Answer> ManageSnapshotAsync(string volumeId, string source, string path = "os-snapshot-manage", string? token = BlockStorageHost.Admin, string? version = null) =>
        h.SendAsync("POST", $"/v3/{P}/{path}", new JsonObject
        {
            ["snapshot"] = new JsonObject
            {
                ["volume_id"] = volumeId, ["ref"] = new JsonObject { ["source-name"] = source }, ["name"] = "kept",
                ["description"] = "from the admin", ["metadata"] = new JsonObject { ["origin"] = "admin" },
            },
        }.ToJsonString(), token, version: version);

    private async Task<JsonObject?> ManageableAsync(string volume, string snapshot)
    {
        var r = await h.SendAsync("GET", $"/v3/{P}/manageable_snapshots/detail?host={Uri.EscapeDataString(Host)}", version: "volume 3.8");
        Assert.True(r.Code == HttpStatusCode.OK, r.Text);
        return r.Body!["manageable-snapshots"]!.AsArray().OfType<JsonObject>().FirstOrDefault(o =>
            o["reference"]!["source-name"]!.GetValue<string>() == snapshot && o["source_reference"]!["source-name"]!.GetValue<string>() == volume);
    }

    private static string Message(BlockStorageHost.Answer a) => a.Body?["badRequest"]?["message"]?.GetValue<string>() ?? a.Text;

    private SnapshotRecord? RecordOf(string volume, string snapshot) =>
        Store.FindVolume($"tank/{volume}") is { } v ? Store.ListSnapshots(v.Id).SingleOrDefault(s => s.Name == snapshot) : null;

    [Fact]
    public async Task A_managed_volumes_admin_snapshot_is_managed_used_unmanaged_and_managed_again()
    {
        var (name, data) = await AdminVolumeWithSnapshotAsync();
        // Not yet: its volume is the admin's.
        var early = await ManageableAsync(name, "s1");
        Assert.NotNull(early);
        Assert.False(early["safe_to_manage"]!.GetValue<bool>());
        Assert.Contains("manage the volume first", early["reason_not_safe"]!.GetValue<string>(), StringComparison.Ordinal);

        // A volume with snapshots can be managed; its snapshot stays the admin's, now on the new volume record.
        var vid = await ManageVolumeAsync(name);
        var adminRec = RecordOf(name, "s1")!;
        Assert.Equal(Modules.Admin, adminRec.Module);
        Assert.Equal(Guid.Parse(vid), adminRec.VolumeId);
        Assert.Empty((await h.SendAsync("GET", $"/v3/{P}/snapshots?volume_id={vid}")).Body!["snapshots"]!.AsArray());
        var listed = await ManageableAsync(name, "s1");
        Assert.True(listed!["safe_to_manage"]!.GetValue<bool>(), listed.ToJsonString());
        Assert.Null(listed["cinder_id"]);
        Assert.Equal(1, listed["size"]!.GetValue<int>());

        // Block Storage does not destroy what it does not manage: the delete is refused and nothing changes.
        var del = await h.SendAsync("DELETE", $"/v3/{P}/volumes/{vid}");
        Assert.Equal(HttpStatusCode.BadRequest, del.Code);
        Assert.Contains("does not manage", del.Text, StringComparison.Ordinal);
        Assert.Equal("available", (await h.SendAsync("GET", $"/v3/{P}/volumes/{vid}")).Body!["volume"]!["status"]!.GetValue<string>());
        Assert.NotNull(await Engine.GetSnapshotAsync($"tank/{name}", "s1", Ct));

        var m = await ManageSnapshotAsync(vid, "s1");
        Assert.True(m.Code == HttpStatusCode.Accepted, m.Text);
        var s = m.Body!["snapshot"]!;
        var sid = s["id"]!.GetValue<string>();
        Assert.Equal("available", s["status"]!.GetValue<string>());
        Assert.Equal("kept", s["name"]!.GetValue<string>());
        Assert.Equal(vid, s["volume_id"]!.GetValue<string>());
        Assert.Equal("admin", s["metadata"]!["origin"]!.GetValue<string>());
        var rec = RecordOf(name, "s1")!;
        Assert.Equal(Modules.BlockStorage, rec.Module);
        Assert.Equal(Guid.Parse(sid), rec.Id);
        var managed = await ManageableAsync(name, "s1");
        Assert.False(managed!["safe_to_manage"]!.GetValue<bool>());
        Assert.Equal("already managed", managed["reason_not_safe"]!.GetValue<string>());
        Assert.Equal(sid, managed["cinder_id"]!.GetValue<string>());
        var again = await ManageSnapshotAsync(vid, "s1");
        Assert.Equal(HttpStatusCode.BadRequest, again.Code);
        Assert.Contains("already managed", again.Text, StringComparison.Ordinal);

        // It is a snapshot like any other: a volume made from it has its data; unmanage waits for that volume.
        var clone = await h.CreateVolumeAsync(1, extra: new JsonObject { ["snapshot_id"] = sid });
        using (var dev = await Engine.OpenAsync($"tank/volume-{clone}", ct: Ct))
        {
            var buf = new byte[data.Length];
            await dev.ReadAsync(0, buf, Ct);
            Assert.Equal(data, buf);
        }
        var busy = await h.SendAsync("POST", $"/v3/{P}/snapshots/{sid}/action", """{"os-unmanage": null}""");
        Assert.Equal(HttpStatusCode.BadRequest, busy.Code);
        Assert.Equal(Modules.BlockStorage, RecordOf(name, "s1")!.Module);
        Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("DELETE", $"/v3/{P}/volumes/{clone}")).Code);

        var un = await h.SendAsync("POST", $"/v3/{P}/snapshots/{sid}/action", """{"os-unmanage": null}""");
        Assert.True(un.Code == HttpStatusCode.Accepted, un.Text);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/snapshots/{sid}")).Code);
        var back = RecordOf(name, "s1")!;
        Assert.Equal(Modules.Admin, back.Module);
        Assert.Equal((await Engine.GetSnapshotAsync($"tank/{name}", "s1", Ct))!.Id, back.Id);

        // Managed again through the 3.8 path, then deleted through Block Storage: the engine snapshot goes with it.
        Assert.Equal(HttpStatusCode.NotFound, (await ManageSnapshotAsync(vid, "s1", "manageable_snapshots", version: "volume 3.7")).Code);
        var m2 = await ManageSnapshotAsync(vid, $"tank/{name}@s1", "manageable_snapshots", version: "volume 3.8");
        Assert.True(m2.Code == HttpStatusCode.Accepted, m2.Text);
        var sid2 = m2.Body!["snapshot"]!["id"]!.GetValue<string>();
        Assert.NotEqual(sid, sid2);
        Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("DELETE", $"/v3/{P}/snapshots/{sid2}")).Code);
        Assert.Null(await Engine.GetSnapshotAsync($"tank/{name}", "s1", Ct));
        Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("DELETE", $"/v3/{P}/volumes/{vid}")).Code);
    }

    [Fact]
    public async Task A_volume_unmanaged_with_admin_snapshots_takes_them_back()
    {
        var (name, _) = await AdminVolumeWithSnapshotAsync("keep");
        var vid = await ManageVolumeAsync(name);
        var un = await h.SendAsync("POST", $"/v3/{P}/volumes/{vid}/action", """{"os-unmanage": null}""");
        Assert.True(un.Code == HttpStatusCode.Accepted, un.Text);
        var vol = Store.FindVolume($"tank/{name}")!;
        Assert.Equal(Modules.Admin, vol.Module);
        Assert.Equal(vol.Id, RecordOf(name, "keep")!.VolumeId);
        // The admin destroys both through the admin API: they are theirs again.
        using (var d = await h.Http.DeleteAsync($"/cairn/v1/snapshots/tank/{name}@keep", Ct)) Assert.True(d.IsSuccessStatusCode, await d.Content.ReadAsStringAsync(Ct));
        using (var d = await h.Http.DeleteAsync($"/cairn/v1/volumes/tank/{name}", Ct)) Assert.True(d.IsSuccessStatusCode, await d.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Bad_snapshot_manage_requests_answer_Cinders_errors_and_change_nothing()
    {
        var (name, _) = await AdminVolumeWithSnapshotAsync();
        var unmanagedVolume = Store.FindVolume($"tank/{name}")!.Id.ToString();
        var before = Store.ListSnapshots().Count;

        Assert.Equal(HttpStatusCode.NotFound, (await ManageSnapshotAsync(unmanagedVolume, "s1")).Code); // not a Block Storage volume
        var vid = await ManageVolumeAsync(name);
        var missing = await h.SendAsync("POST", $"/v3/{P}/os-snapshot-manage", """{"snapshot": {"volume_id": "%"}}""".Replace("%", vid, StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.BadRequest, missing.Code);
        Assert.Contains("'ref' is a required property", Message(missing), StringComparison.Ordinal);
        var noVolume = await h.SendAsync("POST", $"/v3/{P}/os-snapshot-manage", """{"snapshot": {"ref": {"source-name": "s1"}}}""");
        Assert.Equal(HttpStatusCode.BadRequest, noVolume.Code);
        Assert.Contains("'volume_id' is a required property", Message(noVolume), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await ManageSnapshotAsync(Guid.NewGuid().ToString(), "s1")).Code);
        var absent = await ManageSnapshotAsync(vid, "nothing-here");
        Assert.Equal(HttpStatusCode.BadRequest, absent.Code);
        Assert.Contains("does not exist", absent.Text, StringComparison.Ordinal);
        var badName = await ManageSnapshotAsync(vid, "bad name!");
        Assert.Equal(HttpStatusCode.BadRequest, badName.Code);
        var otherVolume = await ManageSnapshotAsync(vid, "tank/elsewhere@s1");
        Assert.Equal(HttpStatusCode.BadRequest, otherVolume.Code);
        Assert.Contains("not one of volume", otherVolume.Text, StringComparison.Ordinal);
        var member = await ManageSnapshotAsync(vid, "s1", token: "member:" + P);
        Assert.Equal(HttpStatusCode.Forbidden, member.Code);
        var listing37 = await h.SendAsync("GET", $"/v3/{P}/manageable_snapshots?host={Uri.EscapeDataString(Host)}", version: "volume 3.7");
        Assert.Equal(HttpStatusCode.NotFound, listing37.Code);
        var badHost = await h.SendAsync("GET", $"/v3/{P}/manageable_snapshots?host=nowhere", version: "volume 3.8");
        Assert.Equal(HttpStatusCode.NotFound, badHost.Code);

        Assert.Equal(before, Store.ListSnapshots().Count);
        Assert.Equal(Modules.Admin, RecordOf(name, "s1")!.Module);
    }

    [Fact]
    public async Task The_cinder_client_lists_manages_and_unmanages_snapshots()
    {
        var (name, _) = await AdminVolumeWithSnapshotAsync("c1");
        var vid = await ManageVolumeAsync(name);
        var list = await CinderAsync("snapshot-manageable-list", Host);
        var row = list.Split('\n').Single(l => l.Contains(name, StringComparison.Ordinal) && l.Contains("c1", StringComparison.Ordinal));
        Assert.Contains("True", row, StringComparison.Ordinal);
        var shown = await CinderAsync("snapshot-manage", "--name", "via-cinder", vid, "c1");
        var rec = RecordOf(name, "c1")!;
        Assert.Equal(Modules.BlockStorage, rec.Module);
        Assert.Contains(rec.Id.ToString(), shown, StringComparison.Ordinal);
        Assert.Contains("via-cinder", shown, StringComparison.Ordinal);
        await CinderAsync("snapshot-unmanage", rec.Id.ToString());
        Assert.Equal(Modules.Admin, RecordOf(name, "c1")!.Module);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/snapshots/{rec.Id}")).Code);
    }

    /// <summary>Runs the real <c>cinder</c> (python-cinderclient) with its noauth plugin against the server.</summary>
    private async Task<string> CinderAsync(params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("cinder") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--os-auth-type", "noauth", "--os-user-id", "admin", "--os-project-id", P,
            "--os-endpoint", new Uri(h.Url, "/v3").ToString().TrimEnd('/'), "--os-volume-api-version", "3.8" }.Concat(args))
            psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi) ?? throw new InvalidOperationException("cinder did not start");
        var stdout = p.StandardOutput.ReadToEndAsync(Ct);
        var stderr = p.StandardError.ReadToEndAsync(Ct);
        await p.WaitForExitAsync(Ct);
        Assert.True(p.ExitCode == 0, $"cinder {string.Join(' ', args)}: exit {p.ExitCode}\n{await stdout}\n{await stderr}");
        return await stdout;
    }
}
