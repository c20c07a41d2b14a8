using System.Net;
using System.Text.Json.Nodes;

namespace Cairn.Api.Tests.BlockStorage;

/// <summary>Snapshots, volume actions, types and extra specs, quotas, limits, zones, services and extensions, and policy.</summary>
public sealed class SnapshotActionCatalogTests(BlockStorageHost h) : IClassFixture<BlockStorageHost>
{
    private const string P = BlockStorageHost.Project;

    private Task<BlockStorageHost.Answer> Act(string id, string body, string token = BlockStorageHost.Admin, string? version = null) =>
        h.SendAsync("POST", $"/v3/{P}/volumes/{id}/action", body, token, version);

    private async Task<JsonNode> Show(string id) => (await h.SendAsync("GET", $"/v3/{P}/volumes/{id}")).Body!["volume"]!;

    [Fact]
    public async Task Snapshots_create_list_show_update_metadata_and_delete()
    {
        var vol = await h.CreateVolumeAsync(1);
        var r = await h.SendAsync("POST", $"/v3/{P}/snapshots", new JsonObject { ["snapshot"] = new JsonObject { ["volume_id"] = vol, ["display_name"] = "snap1", ["metadata"] = new JsonObject { ["a"] = "b" } } }.ToJsonString());
        Assert.Equal(HttpStatusCode.Accepted, r.Code);
        var s = r.Body!["snapshot"]!;
        var id = s["id"]!.GetValue<string>();
        Assert.Equal("snap1", s["name"]!.GetValue<string>());
        Assert.Equal(["created_at", "description", "id", "metadata", "name", "size", "status", "updated_at", "volume_id"], s.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal));
        var shown = (await h.SendAsync("GET", $"/v3/{P}/snapshots/{id}")).Body!["snapshot"]!;
        Assert.Equal("available", shown["status"]!.GetValue<string>());
        Assert.Equal("100%", shown["os-extended-snapshot-attributes:progress"]!.GetValue<string>());
        Assert.Equal(P, shown["os-extended-snapshot-attributes:project_id"]!.GetValue<string>());
        var list = await h.SendAsync("GET", $"/v3/{P}/snapshots?volume_id={vol}");
        Assert.False(Assert.Single(list.Body!["snapshots"]!.AsArray())!.AsObject().ContainsKey("os-extended-snapshot-attributes:progress"));
        Assert.Equal("renamed", (await h.SendAsync("PUT", $"/v3/{P}/snapshots/{id}", """{"snapshot": {"name": "renamed"}}""")).Body!["snapshot"]!["name"]!.GetValue<string>());
        Assert.Equal("b", (await h.SendAsync("GET", $"/v3/{P}/snapshots/{id}/metadata/a")).Body!["meta"]!["a"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, (await h.SendAsync("PUT", $"/v3/{P}/snapshots/{id}/metadata", """{"metadata": {"x": "y"}}""")).Code);
        Assert.Equal(["x"], (await h.SendAsync("GET", $"/v3/{P}/snapshots/{id}/metadata")).Body!["metadata"]!.AsObject().Select(p => p.Key));
        var del = await h.SendAsync("DELETE", $"/v3/{P}/snapshots/{id}");
        Assert.Equal(HttpStatusCode.Accepted, del.Code);
        Assert.Equal("", del.Text);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/snapshots/{id}")).Code);
    }

    [Fact]
    public async Task Snapshot_of_an_in_use_volume_needs_force_and_bad_snapshots_are_404()
    {
        var vol = await h.CreateVolumeAsync(1);
        Assert.Equal(HttpStatusCode.Accepted, (await Act(vol, """{"os-reset_status": {"status": "in-use"}}""")).Code);
        var body = new JsonObject { ["snapshot"] = new JsonObject { ["volume_id"] = vol } };
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("POST", $"/v3/{P}/snapshots", body.ToJsonString())).Code);
        body["snapshot"]!["force"] = true;
        Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("POST", $"/v3/{P}/snapshots", body.ToJsonString())).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("POST", $"/v3/{P}/snapshots", """{"snapshot": {"volume_id": null}}""")).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("POST", $"/v3/{P}/snapshots", $$$"""{"snapshot": {"volume_id": "{{Guid.NewGuid()}}"}}""")).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/snapshots?marker={Guid.NewGuid()}")).Code);
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("GET", $"/v3/{P}/snapshots?limit=invalid")).Code);
    }

    [Fact]
    public async Task Extend_offline_and_online_and_its_errors()
    {
        var vol = await h.CreateVolumeAsync(1);
        var r = await Act(vol, """{"os-extend": {"new_size": 2}}""");
        Assert.Equal(HttpStatusCode.Accepted, r.Code);
        Assert.Equal("", r.Text);
        Assert.Equal(2, (await Show(vol))["size"]!.GetValue<int>());
        Assert.Equal(HttpStatusCode.BadRequest, (await Act(vol, """{"os-extend": {"new_size": 2}}""")).Code);
        foreach (var bad in new[] { "0", "\"abc\"", "null" })
            Assert.Equal(HttpStatusCode.BadRequest, (await Act(vol, $$$"""{"os-extend": {"new_size": {{{bad}}}}}""")).Code);
        Assert.Equal(HttpStatusCode.Accepted, (await Act(vol, """{"os-reset_status": {"status": "in-use"}}""")).Code);
        Assert.Equal(HttpStatusCode.BadRequest, (await Act(vol, """{"os-extend": {"new_size": 3}}""")).Code); // online extend is 3.42+
        Assert.Equal(HttpStatusCode.Accepted, (await Act(vol, """{"os-extend": {"new_size": 3}}""", version: "volume 3.42")).Code);
        Assert.Equal(3, (await Show(vol))["size"]!.GetValue<int>());
    }

    [Fact]
    public async Task Flags_reset_status_and_force_delete()
    {
        var vol = await h.CreateVolumeAsync(1);
        Assert.Equal(HttpStatusCode.OK, (await Act(vol, """{"os-set_bootable": {"bootable": true}}""")).Code);
        Assert.Equal("true", (await Show(vol))["bootable"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Accepted, (await Act(vol, """{"os-update_readonly_flag": {"readonly": true}}""")).Code);
        Assert.Equal(HttpStatusCode.BadRequest, (await Act(vol, """{"os-reset_status": {"status": "nonsense"}}""")).Code);
        Assert.Equal(HttpStatusCode.Accepted, (await Act(vol, """{"os-reset_status": {"status": "error_deleting"}}""")).Code);
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("DELETE", $"/v3/{P}/volumes/{vol}")).Code);
        Assert.Equal(HttpStatusCode.Accepted, (await Act(vol, """{"os-force_delete": {}}""")).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/volumes/{vol}")).Code);
    }

    [Fact]
    public async Task Policy_members_see_their_project_readers_only_read_admin_actions_are_403()
    {
        const string other = "fedcba9876543210fedcba9876543210";
        var member = "member1:" + other;
        var mine = await h.CreateVolumeAsync(1, token: member, project: other);
        var admins = await h.CreateVolumeAsync(1);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{other}/volumes/{admins}", token: member)).Code);
        var listed = await h.SendAsync("GET", $"/v3/{other}/volumes?all_tenants=1", token: member);
        Assert.Equal([mine], listed.Body!["volumes"]!.AsArray().Select(v => v!["id"]!.GetValue<string>()));
        Assert.Equal(HttpStatusCode.Forbidden, (await h.SendAsync("POST", $"/v3/{other}/volumes/{mine}/action", """{"os-reset_status": {"status": "error"}}""", member)).Code);
        Assert.Equal(HttpStatusCode.Forbidden, (await h.SendAsync("POST", $"/v3/{other}/types", """{"volume_type": {"name": "x"}}""", member)).Code);
        Assert.Equal(HttpStatusCode.Forbidden, (await h.SendAsync("PUT", $"/v3/{other}/os-quota-sets/{other}", """{"quota_set": {"volumes": 5}}""", member)).Code);
        var reader = "reader1:" + other;
        Assert.Equal(HttpStatusCode.OK, (await h.SendAsync("GET", $"/v3/{other}/volumes/{mine}", token: reader)).Code);
        var refused = await h.SendAsync("POST", $"/v3/{other}/volumes", """{"volume": {"size": 1}}""", reader);
        Assert.Equal(HttpStatusCode.Forbidden, refused.Code);
        Assert.NotNull(refused.Body!["forbidden"]);
        var all = await h.SendAsync("GET", $"/v3/{P}/volumes?all_tenants=1&limit=1000");
        Assert.Contains(mine, all.Body!["volumes"]!.AsArray().Select(v => v!["id"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Types_extra_specs_default_type_and_retype()
    {
        var name = "gold-" + Guid.NewGuid().ToString("N")[..6];
        var r = await h.SendAsync("POST", $"/v3/{P}/types", new JsonObject { ["volume_type"] = new JsonObject { ["name"] = name, ["extra_specs"] = new JsonObject { ["vendor_name"] = "Open Source" } } }.ToJsonString());
        Assert.Equal(HttpStatusCode.OK, r.Code);
        Assert.False(r.Body!["volume_type"]!.AsObject().ContainsKey("qos_specs_id"));
        var id = r.Body["volume_type"]!["id"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.Conflict, (await h.SendAsync("POST", $"/v3/{P}/types", new JsonObject { ["volume_type"] = new JsonObject { ["name"] = name } }.ToJsonString())).Code);
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("POST", $"/v3/{P}/types", """{"volume_type": {"name": ""}}""")).Code);
        Assert.Equal(HttpStatusCode.OK, (await h.SendAsync("POST", $"/v3/{P}/types/{id}/extra_specs", """{"extra_specs": {"k1": "v1"}}""")).Code);
        Assert.Equal("v1", (await h.SendAsync("GET", $"/v3/{P}/types/{id}/extra_specs/k1")).Body!["k1"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("PUT", $"/v3/{P}/types/{id}/extra_specs/k1", """{"k2": "v"}""")).Code);
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("POST", $"/v3/{P}/types/{id}/extra_specs", """{"extra_specs": null}""")).Code);
        Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("DELETE", $"/v3/{P}/types/{id}/extra_specs/k1")).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/types/{id}/extra_specs/k1")).Code);
        var upd = await h.SendAsync("PUT", $"/v3/{P}/types/{id}", """{"volume_type": {"description": "shiny"}}""");
        Assert.False(upd.Body!["volume_type"]!.AsObject().ContainsKey("os-volume-type-access:is_public"));
        Assert.Equal("__DEFAULT__", (await h.SendAsync("GET", $"/v3/{P}/types/default")).Body!["volume_type"]!["name"]!.GetValue<string>());

        var vol = await h.CreateVolumeAsync(1, extra: new JsonObject { ["volume_type"] = id });
        Assert.Equal(name, (await Show(vol))["volume_type"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("DELETE", $"/v3/{P}/types/{id}")).Code); // in use
        var def = (await h.SendAsync("GET", $"/v3/{P}/types/default")).Body!["volume_type"]!["id"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.Accepted, (await Act(vol, $$$"""{"os-retype": {"new_type": "{{{def}}}"}}""")).Code);
        Assert.Equal("__DEFAULT__", (await Show(vol))["volume_type"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("DELETE", $"/v3/{P}/types/{id}")).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/types/{id}")).Code);
    }

    [Fact]
    public async Task Quotas_are_enforced_shown_with_usage_and_reset()
    {
        const string q = "aaaa1111bbbb2222cccc3333dddd4444";
        var tok = "admin:" + q;
        var set = await h.SendAsync("PUT", $"/v3/{q}/os-quota-sets/{q}", """{"quota_set": {"volumes": 1, "snapshots": 2, "gigabytes": 2}}""", tok);
        Assert.Equal(HttpStatusCode.OK, set.Code);
        Assert.Equal(1, set.Body!["quota_set"]!["volumes"]!.GetValue<int>());
        var vol = await h.CreateVolumeAsync(1, token: tok, project: q);
        var over = await h.SendAsync("POST", $"/v3/{q}/volumes", """{"volume": {"size": 1}}""", tok);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, over.Code);
        Assert.NotNull(over.Body!["overLimit"]);
        Assert.Null(over.Response.Headers.RetryAfter);
        Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("POST", $"/v3/{q}/snapshots", $$$"""{"snapshot": {"volume_id": "{{{vol}}}"}}""", tok)).Code);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await h.SendAsync("POST", $"/v3/{q}/snapshots", $$$"""{"snapshot": {"volume_id": "{{{vol}}}"}}""", tok)).Code); // gigabytes: 1 + 1 + 1 > 2
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await h.SendAsync("POST", $"/v3/{q}/volumes/{vol}/action", """{"os-extend": {"new_size": 2}}""", tok)).Code);
        var usage = (await h.SendAsync("GET", $"/v3/{q}/os-quota-sets/{q}?usage=True", token: tok)).Body!["quota_set"]!;
        Assert.Equal(1, usage["volumes"]!["in_use"]!.GetValue<int>());
        Assert.Equal(2, usage["gigabytes"]!["in_use"]!.GetValue<int>());
        var limits = (await h.SendAsync("GET", $"/v3/{q}/limits", token: tok)).Body!["limits"]!["absolute"]!;
        Assert.Equal(10, limits.AsObject().Count);
        Assert.Equal(1, limits["totalVolumesUsed"]!.GetValue<int>());
        var reset = await h.SendAsync("DELETE", $"/v3/{q}/os-quota-sets/{q}", token: tok);
        Assert.Equal(HttpStatusCode.OK, reset.Code);
        Assert.Equal("", reset.Text);
        Assert.Equal(10, (await h.SendAsync("GET", $"/v3/{q}/os-quota-sets/{q}", token: tok)).Body!["quota_set"]!["volumes"]!.GetValue<int>());
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("PUT", $"/v3/{q}/os-quota-sets/{q}", """{"quota_set": {"bogus": 1}}""", tok)).Code);
    }

    [Fact]
    public async Task Unlimited_quotas_still_refuse_over_per_volume_gigabytes_and_count_what_was_made()
    {
        const string q = "eeee1111ffff2222aaaa3333bbbb4444";
        var tok = "admin:" + q;
        Assert.Equal(HttpStatusCode.OK, (await h.SendAsync("PUT", $"/v3/{q}/os-quota-sets/{q}", """{"quota_set": {"volumes": -1, "gigabytes": -1, "per_volume_gigabytes": 2}}""", tok)).Code);
        // Past the default of 10 volumes: creates under unlimited quotas skip the usage count.
        for (int i = 0; i < 11; i++) await h.CreateVolumeAsync(1, token: tok, project: q);
        var big = await h.SendAsync("POST", $"/v3/{q}/volumes", """{"volume": {"size": 3}}""", tok);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, big.Code);
        Assert.Contains("VolumeSizeExceedsLimit", (string?)big.Body!["overLimit"]!["message"], StringComparison.Ordinal);
        var usage = (await h.SendAsync("GET", $"/v3/{q}/os-quota-sets/{q}?usage=True", token: tok)).Body!["quota_set"]!;
        Assert.Equal(11, usage["volumes"]!["in_use"]!.GetValue<int>());
        // A limit set afterwards counts the volumes made while unlimited.
        Assert.Equal(HttpStatusCode.OK, (await h.SendAsync("PUT", $"/v3/{q}/os-quota-sets/{q}", """{"quota_set": {"volumes": 11}}""", tok)).Code);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await h.SendAsync("POST", $"/v3/{q}/volumes", """{"volume": {"size": 1}}""", tok)).Code);
        Assert.Equal(11, (await h.SendAsync("GET", $"/v3/{q}/volumes", token: tok)).Body!["volumes"]!.AsArray().Count);
    }

    [Fact]
    public async Task Zones_services_and_extensions()
    {
        var az = await h.SendAsync("GET", $"/v3/{P}/os-availability-zone");
        Assert.Equal("nova", az.Body!["availabilityZoneInfo"]![0]!["zoneName"]!.GetValue<string>());
        var svc = await h.SendAsync("GET", $"/v3/{P}/os-services");
        Assert.Contains(svc.Body!["services"]!.AsArray(), s => s!["binary"]!.GetValue<string>() == "cinder-volume" && s["state"]!.GetValue<string>() == "up");
        var ext = await h.SendAsync("GET", $"/v3/{P}/extensions");
        Assert.Equal("os-availability-zone", ext.Body!["extensions"]![0]!["alias"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, (await h.SendAsync("GET", $"/v3/{P}/extensions/os-quota-sets")).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/extensions/Hosts")).Code);
        var summary = await h.SendAsync("GET", $"/v3/{P}/volumes/summary", version: "volume 3.12");
        Assert.True(summary.Body!["volume-summary"]!["total_count"]!.GetValue<int>() >= 0);
    }
}
