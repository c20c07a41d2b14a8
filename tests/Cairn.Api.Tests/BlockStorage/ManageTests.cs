using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Cairn.Core.Services;
using Cairn.Core.State;
using Microsoft.Extensions.DependencyInjection;

namespace Cairn.Api.Tests.BlockStorage;

/// <summary>
/// Manage existing: an admin-API volume with data in it adopted into a project (os-volume-manage), listed
/// (manageable_volumes), given back (os-unmanage) and adopted again, against the real server; every refusal changes nothing.
/// </summary>
public sealed class ManageTests(BlockStorageHost h) : IClassFixture<BlockStorageHost>
{
    private const string P = BlockStorageHost.Project;
    private const string Host = "cairn@cairn#tank";
    private const string Member = "member:" + P;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private VolumeService Engine => h.Services.GetRequiredService<VolumeService>();
    private IStateStore Store => h.Services.GetRequiredService<IStateStore>();

    /// <summary>An admin volume made by the admin API's raw import: <paramref name="bytes"/> of a pattern.</summary>
    private async Task<(string Name, byte[] Data)> ImportAsync(int bytes = 3 << 20)
    {
        var name = "legacy-" + Guid.NewGuid().ToString("N")[..8];
        var data = new byte[bytes];
        new Random(bytes ^ name.GetHashCode(StringComparison.Ordinal)).NextBytes(data);
        using var content = new ByteArrayContent(data);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var resp = await h.Http.PutAsync($"/cairn/v1/volume-data/tank/{name}", content, Ct);
        Assert.True(resp.StatusCode == HttpStatusCode.Created, await resp.Content.ReadAsStringAsync(Ct));
        return (name, data);
    }

    private static Dictionary<string, string> Ref(string name) => new() { ["source-name"] = name };

    private Task<BlockStorageHost.Answer> ManageAsync(object refBody, string? token = BlockStorageHost.Admin, string host = Host, string? name = "adopted", string? type = null)
    {
        var v = new JsonObject { ["host"] = host, ["ref"] = JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(refBody)), ["name"] = name, ["metadata"] = new JsonObject { ["origin"] = "admin" } };
        if (type is not null) v["volume_type"] = type;
        return h.SendAsync("POST", $"/v3/{P}/os-volume-manage", new JsonObject { ["volume"] = v }.ToJsonString(), token);
    }

    private async Task<JsonObject?> ManageableAsync(string reference, bool detail = true)
    {
        var r = await h.SendAsync("GET", $"/v3/{P}/manageable_volumes{(detail ? "/detail" : "")}?host={Uri.EscapeDataString(Host)}", version: "volume 3.8");
        Assert.True(r.Code == HttpStatusCode.OK, r.Text);
        return r.Body!["manageable-volumes"]!.AsArray().OfType<JsonObject>().FirstOrDefault(o => o["reference"]!["source-name"]!.GetValue<string>() == reference);
    }

    private async Task<byte[]> ReadAsync(string dataset, int length)
    {
        using var dev = await Engine.OpenAsync(dataset, ct: Ct);
        var buf = new byte[length];
        await dev.ReadAsync(0, buf, Ct);
        return buf;
    }

    private async Task<JsonNode> AdminShowAsync(string name)
    {
        using var resp = await h.Http.GetAsync($"/cairn/v1/volumes/tank/{name}", Ct);
        var text = await resp.Content.ReadAsStringAsync(Ct);
        Assert.True(resp.StatusCode == HttpStatusCode.OK, text);
        return JsonNode.Parse(text)!;
    }

    [Fact]
    public async Task An_admin_volume_with_data_is_managed_read_back_unmanaged_and_managed_again()
    {
        var (name, data) = await ImportAsync();
        var before = await ManageableAsync(name);
        Assert.NotNull(before);
        Assert.Equal(1, before["size"]!.GetValue<int>()); // 3 MiB rounded up to a whole GiB
        Assert.True(before["safe_to_manage"]!.GetValue<bool>());
        Assert.Null(before["reason_not_safe"]);
        Assert.Null(before["cinder_id"]);
        Assert.Equal((3 << 20).ToString(System.Globalization.CultureInfo.InvariantCulture), before["extra_info"]!["bytes"]!.GetValue<string>());
        var summary = await ManageableAsync(name, detail: false);
        Assert.Equal(["reference", "safe_to_manage", "size"], summary!.Select(kv => kv.Key).Order(StringComparer.Ordinal).ToArray());

        var m = await ManageAsync(Ref(name));
        Assert.True(m.Code == HttpStatusCode.Accepted, m.Text);
        var v = m.Body!["volume"]!;
        var id = v["id"]!.GetValue<string>();
        Assert.Equal("available", v["status"]!.GetValue<string>());
        Assert.Equal(1, v["size"]!.GetValue<int>());
        Assert.Equal("adopted", v["name"]!.GetValue<string>());
        Assert.Equal("admin", v["metadata"]!["origin"]!.GetValue<string>());
        Assert.Equal("__DEFAULT__", v["volume_type"]!.GetValue<string>());
        var shown = await h.SendAsync("GET", $"/v3/{P}/volumes/{id}");
        Assert.Equal("available", shown.Body!["volume"]!["status"]!.GetValue<string>());
        Assert.Equal(P, shown.Body!["volume"]!["os-vol-tenant-attr:tenant_id"]!.GetValue<string>());

        // One owner: the record is the Block Storage one, at the same dataset; the admin API shows the project.
        var rec = Store.FindVolume($"tank/{name}")!;
        Assert.Equal(Modules.BlockStorage, rec.Module);
        Assert.Equal(Guid.Parse(id), rec.Id);
        Assert.Single(Store.ListVolumes(), r => r.Name == $"tank/{name}");
        Assert.Equal(P, (await AdminShowAsync(name))["project"]!.GetValue<string>());
        Assert.Equal(1L << 30, (await Engine.GetDatasetAsync($"tank/{name}", Ct))!.Size);
        var listed = await ManageableAsync(name);
        Assert.False(listed!["safe_to_manage"]!.GetValue<bool>());
        Assert.Equal("already managed", listed["reason_not_safe"]!.GetValue<string>());
        Assert.Equal(id, listed["cinder_id"]!.GetValue<string>());

        // The data is the import's, no copy made: read it back through a Cinder snapshot and a volume cloned from it.
        var snap = await h.SendAsync("POST", $"/v3/{P}/snapshots", new JsonObject { ["snapshot"] = new JsonObject { ["volume_id"] = id } }.ToJsonString());
        Assert.True(snap.Code == HttpStatusCode.Accepted, snap.Text);
        var snapId = snap.Body!["snapshot"]!["id"]!.GetValue<string>();
        var clone = await h.CreateVolumeAsync(1, extra: new JsonObject { ["snapshot_id"] = snapId });
        Assert.Equal(data, await ReadAsync($"tank/volume-{clone}", data.Length));

        // Unmanage is refused while it has snapshots (Cinder's rule), and changes nothing.
        var refused = await h.SendAsync("POST", $"/v3/{P}/volumes/{id}/action", """{"os-unmanage": null}""");
        Assert.Equal(HttpStatusCode.BadRequest, refused.Code);
        Assert.Contains("snapshots", refused.Text, StringComparison.Ordinal);
        Assert.Equal(Modules.BlockStorage, Store.FindVolume($"tank/{name}")!.Module);
        Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("DELETE", $"/v3/{P}/volumes/{clone}")).Code);
        Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("DELETE", $"/v3/{P}/snapshots/{snapId}")).Code);

        var un = await h.SendAsync("POST", $"/v3/{P}/volumes/{id}/action", """{"os-unmanage": null}""");
        Assert.True(un.Code == HttpStatusCode.Accepted, un.Text);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/volumes/{id}")).Code);
        var admin = await AdminShowAsync(name);
        Assert.Equal("admin", admin["project"]!.GetValue<string>());
        var adminRec = Store.FindVolume($"tank/{name}")!;
        Assert.Equal(Modules.Admin, adminRec.Module);
        Assert.Equal((await Engine.GetDatasetAsync($"tank/{name}", Ct))!.Id, adminRec.Id);
        Assert.Equal(data, await ReadAsync($"tank/{name}", data.Length));
        Assert.True((await ManageableAsync(name))!["safe_to_manage"]!.GetValue<bool>());

        // Round trip: managed again (by its admin id this time), a new Cinder volume with the same data.
        var again = await ManageAsync(new Dictionary<string, string> { ["source-id"] = adminRec.Id.ToString() }, name: "again");
        Assert.True(again.Code == HttpStatusCode.Accepted, again.Text);
        var id2 = again.Body!["volume"]!["id"]!.GetValue<string>();
        Assert.NotEqual(id, id2);
        Assert.Equal(Modules.BlockStorage, Store.FindVolume($"tank/{name}")!.Module);
        Assert.Equal(data, await ReadAsync($"tank/{name}", data.Length));
        // Deleting a managed volume deletes its data, as Cinder's does.
        Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("DELETE", $"/v3/{P}/volumes/{id2}")).Code);
        Assert.Null(await Engine.GetDatasetAsync($"tank/{name}", Ct));
    }

    [Fact]
    public async Task A_Cinder_volume_can_be_unmanaged_and_becomes_an_admin_volume()
    {
        var id = await h.CreateVolumeAsync(1);
        var un = await h.SendAsync("POST", $"/v3/{P}/volumes/{id}/action", """{"os-unmanage": null}""");
        Assert.True(un.Code == HttpStatusCode.Accepted, un.Text);
        var rec = Store.FindVolume($"tank/volume-{id}")!;
        Assert.Equal(Modules.Admin, rec.Module);
        Assert.Equal("admin", (await AdminShowAsync($"volume-{id}"))["project"]!.GetValue<string>());
        // The admin may now destroy it through the admin API (it is theirs).
        using var del = await h.Http.DeleteAsync($"/cairn/v1/volumes/tank/volume-{id}", Ct);
        Assert.True(del.IsSuccessStatusCode, await del.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Bad_manage_requests_answer_Cinders_errors_and_change_nothing()
    {
        var (name, _) = await ImportAsync(1 << 20);
        var records = Store.ListVolumes().Count;
        async Task Unchanged()
        {
            Assert.Equal(records, Store.ListVolumes().Count);
            var rec = Store.FindVolume($"tank/{name}")!;
            Assert.Equal(Modules.Admin, rec.Module);
            Assert.Equal(1L << 20, (await Engine.GetDatasetAsync($"tank/{name}", Ct))!.Size);
        }

        var member = await ManageAsync(Ref(name), token: Member);
        Assert.Equal(HttpStatusCode.Forbidden, member.Code);
        await Unchanged();
        var badHost = await ManageAsync(Ref(name), host: "elsewhere@lvm#pool");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, badHost.Code);
        Assert.Equal("Host 'elsewhere@lvm#pool' not found", badHost.Body!["serviceUnavailable"]!["message"]!.GetValue<string>());
        await Unchanged();
        var noRef = await h.SendAsync("POST", $"/v3/{P}/os-volume-manage", new JsonObject { ["volume"] = new JsonObject { ["host"] = Host } }.ToJsonString());
        Assert.Equal(HttpStatusCode.BadRequest, noRef.Code);
        Assert.Contains("'ref' is a required property", noRef.Body!["badRequest"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        var unknown = await ManageAsync(Ref("no-such-volume"));
        Assert.Equal(HttpStatusCode.BadRequest, unknown.Code);
        Assert.Contains("invalid backend reference", unknown.Text, StringComparison.Ordinal);
        var unknownId = await ManageAsync(new Dictionary<string, string> { ["source-id"] = Guid.NewGuid().ToString() });
        Assert.Equal(HttpStatusCode.BadRequest, unknownId.Code);
        var badType = await ManageAsync(Ref(name), type: "no-such-type");
        Assert.Equal(HttpStatusCode.NotFound, badType.Code);
        await Unchanged();

        // Exported by an admin iSCSI target: not safe, refused until the target goes.
        var iqn = "iqn.2020-01.org.example:manage-" + name;
        using var targetBody = new StringContent($$"""{"iqn": "{{iqn}}", "volume": "tank/{{name}}"}""", System.Text.Encoding.UTF8, "application/json");
        using (var t = await h.Http.PostAsync("/cairn/v1/targets", targetBody, Ct))
            Assert.True(t.IsSuccessStatusCode, await t.Content.ReadAsStringAsync(Ct));
        var listed = await ManageableAsync(name);
        Assert.False(listed!["safe_to_manage"]!.GetValue<bool>());
        Assert.Equal("volume is exported by an iSCSI target", listed["reason_not_safe"]!.GetValue<string>());
        var exported = await ManageAsync(Ref(name));
        Assert.Equal(HttpStatusCode.BadRequest, exported.Code);
        Assert.Contains("exported", exported.Text, StringComparison.Ordinal);
        await Unchanged();
        using (var d = await h.Http.DeleteAsync($"/cairn/v1/targets/{iqn}", Ct)) Assert.True(d.IsSuccessStatusCode, await d.Content.ReadAsStringAsync(Ct));

        // Already managed.
        var ok = await ManageAsync(Ref(name));
        Assert.Equal(HttpStatusCode.Accepted, ok.Code);
        var id = ok.Body!["volume"]!["id"]!.GetValue<string>();
        var twice = await ManageAsync(Ref($"tank/{name}"));
        Assert.Equal(HttpStatusCode.BadRequest, twice.Code);
        Assert.True(twice.Text.Contains("already managed", StringComparison.Ordinal), twice.Text);
        Assert.Equal(Guid.Parse(id), Store.FindVolume($"tank/{name}")!.Id);

        // Unmanage: admins only; not while attached.
        Assert.Equal(HttpStatusCode.Forbidden, (await h.SendAsync("POST", $"/v3/{P}/volumes/{id}/action", """{"os-unmanage": null}""", Member)).Code);
        var attach = await h.SendAsync("POST", $"/v3/{P}/volumes/{id}/action", """{"os-attach": {"instance_uuid": "5a4b1c35-6f3e-4a3e-9d2f-0d7d6a1f1b11", "mountpoint": "/dev/vdb", "mode": "rw"}}""");
        Assert.True(attach.Code == HttpStatusCode.Accepted, attach.Text);
        var attached = await h.SendAsync("POST", $"/v3/{P}/volumes/{id}/action", """{"os-unmanage": null}""");
        Assert.Equal(HttpStatusCode.BadRequest, attached.Code);
        Assert.Equal(Modules.BlockStorage, Store.FindVolume($"tank/{name}")!.Module);
        Assert.Equal("in-use", (await h.SendAsync("GET", $"/v3/{P}/volumes/{id}")).Body!["volume"]!["status"]!.GetValue<string>());

        // Listing: microversion 3.8, admins, a known host, Cinder's sort keys.
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/manageable_volumes?host={Uri.EscapeDataString(Host)}", version: "volume 3.7")).Code);
        Assert.Equal(HttpStatusCode.Forbidden, (await h.SendAsync("GET", $"/v3/{P}/manageable_volumes?host={Uri.EscapeDataString(Host)}", token: Member, version: "volume 3.8")).Code);
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("GET", $"/v3/{P}/manageable_volumes", version: "volume 3.8")).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/manageable_volumes?host=other", version: "volume 3.8")).Code);
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("GET", $"/v3/{P}/manageable_volumes?host={Uri.EscapeDataString(Host)}&sort=name", version: "volume 3.8")).Code);
    }

    [Fact]
    public async Task Manageable_listing_sorts_and_pages_by_reference()
    {
        var a = await ImportAsync(1 << 20);
        var b = await ImportAsync(1 << 20);
        var q = $"/v3/{P}/manageable_volumes?host={Uri.EscapeDataString(Host)}&sort=reference:asc";
        var all = (await h.SendAsync("GET", q, version: "volume 3.8")).Body!["manageable-volumes"]!.AsArray().Select(o => o!["reference"]!["source-name"]!.GetValue<string>()).ToList();
        Assert.Equal(all.Order(StringComparer.Ordinal), all);
        Assert.Contains(a.Name, all);
        Assert.Contains(b.Name, all);
        var marker = Uri.EscapeDataString($$"""{"source-name": "{{all[0]}}"}""");
        var page = (await h.SendAsync("GET", q + $"&limit=1&marker={marker}", version: "volume 3.8")).Body!["manageable-volumes"]!.AsArray();
        Assert.Equal(all[1], Assert.Single(page)!["reference"]!["source-name"]!.GetValue<string>());
        var skipped = (await h.SendAsync("GET", q + $"&limit=1&offset=1", version: "volume 3.8")).Body!["manageable-volumes"]!.AsArray();
        Assert.Equal(all[1], Assert.Single(skipped)!["reference"]!["source-name"]!.GetValue<string>());
        var bad = await h.SendAsync("GET", q + "&marker=nope", version: "volume 3.8");
        Assert.Equal(HttpStatusCode.BadRequest, bad.Code);
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

    [Fact]
    public async Task The_cinder_client_lists_manages_and_unmanages()
    {
        var (name, _) = await ImportAsync(1 << 20);
        var list = await CinderAsync("manageable-list", Host);
        var row = list.Split('\n').Single(l => l.Contains(name, StringComparison.Ordinal));
        Assert.Contains("True", row, StringComparison.Ordinal); // safe to manage
        var shown = await CinderAsync("manage", "--name", "from-cinder", Host, name);
        var id = Store.FindVolume($"tank/{name}")!.Id.ToString();
        Assert.Equal(Modules.BlockStorage, Store.FindVolume($"tank/{name}")!.Module);
        Assert.Contains(id, shown, StringComparison.Ordinal);
        Assert.Contains("from-cinder", shown, StringComparison.Ordinal);
        var after = await CinderAsync("manageable-list", "--detailed", "True", Host);
        var managedRow = after.Split('\n').Single(l => l.Contains(name, StringComparison.Ordinal));
        Assert.Contains("already managed", managedRow, StringComparison.Ordinal);
        Assert.Contains(id, managedRow, StringComparison.Ordinal);
        await CinderAsync("unmanage", id);
        Assert.Equal(Modules.Admin, Store.FindVolume($"tank/{name}")!.Module);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/volumes/{id}")).Code);
    }
}
