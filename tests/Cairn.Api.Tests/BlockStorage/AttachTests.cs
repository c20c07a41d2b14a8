using System.Net;
using System.Text.Json.Nodes;
using Cairn.TestSupport;

namespace Cairn.Api.Tests.BlockStorage;

/// <summary>
/// Attaching for real: os-initialize_connection (and the attachments API) make a target for the connector's initiator
/// alone with CHAP; libiscsi logs in with the returned credentials and moves data; another initiator or a wrong secret
/// is refused; after terminate the login fails.
/// </summary>
public sealed class AttachTests(BlockStorageHost h) : IClassFixture<BlockStorageHost>
{
    private const string P = BlockStorageHost.Project;
    private const string Host1 = "iqn.2004-10.com.example:compute-1";
    private const string Host2 = "iqn.2004-10.com.example:compute-2";

    private Task<BlockStorageHost.Answer> Act(string id, string body, string? version = null) =>
        h.SendAsync("POST", $"/v3/{P}/volumes/{id}/action", body, version: version);

    private async Task<string> Status(string id) => (await h.SendAsync("GET", $"/v3/{P}/volumes/{id}")).Body!["volume"]!["status"]!.GetValue<string>();

    [Fact]
    public async Task Legacy_attach_exports_to_the_connector_alone_with_chap_and_terminate_ends_it()
    {
        var vol = await h.CreateVolumeAsync(1);
        Assert.Equal(HttpStatusCode.Accepted, (await Act(vol, """{"os-reserve": {}}""")).Code);
        Assert.Equal("attaching", await Status(vol));
        Assert.Equal(HttpStatusCode.BadRequest, (await Act(vol, """{"os-reserve": {}}""")).Code);
        var conn = await Act(vol, $$$$"""{"os-initialize_connection": {"connector": {"initiator": "{{{{Host1}}}}", "host": "compute-1", "ip": "127.0.0.1"}}}""");
        Assert.True(conn.Code == HttpStatusCode.OK, conn.Text);
        var info = conn.Body!["connection_info"]!;
        Assert.Equal("iscsi", info["driver_volume_type"]!.GetValue<string>());
        var d = info["data"]!;
        var iqn = d["target_iqn"]!.GetValue<string>();
        var portal = d["target_portal"]!.GetValue<string>();
        var user = d["auth_username"]!.GetValue<string>();
        var secret = d["auth_password"]!.GetValue<string>();
        Assert.Equal("CHAP", d["auth_method"]!.GetValue<string>());
        Assert.Equal(0, d["target_lun"]!.GetValue<int>());
        Assert.Equal(vol, d["volume_id"]!.GetValue<string>());
        Assert.Equal($"127.0.0.1:{h.IscsiPort}", portal);
        Assert.DoesNotContain(secret, h.Logs.Dump());

        var data = new byte[4096];
        Random.Shared.NextBytes(data);
        using (var s = LibiscsiSession.Open(portal, Host1, iqn, 0, chap: (user, secret)))
        {
            s.Write(8192, data);
            Assert.Equal(data, s.Read(8192, data.Length));
        }
        Assert.Null(await IscsiTools.CapacityAsync(Host2, IscsiTools.Address(portal, iqn, 0, user, secret)));
        Assert.Null(await IscsiTools.CapacityAsync(Host1, IscsiTools.Address(portal, iqn, 0, user, secret + "x")));
        Assert.Null(await IscsiTools.CapacityAsync(Host1, IscsiTools.Address(portal, iqn, 0)));
        Assert.Equal(1L << 30, (await IscsiTools.CapacityAsync(Host1, IscsiTools.Address(portal, iqn, 0, user, secret)))!.Value.Bytes);

        // A repeat answers the same credentials.
        var again = await Act(vol, $$$$"""{"os-initialize_connection": {"connector": {"initiator": "{{{{Host1}}}}"}}}""");
        Assert.Equal(secret, again.Body!["connection_info"]!["data"]!["auth_password"]!.GetValue<string>());

        Assert.Equal(HttpStatusCode.Accepted, (await Act(vol, """{"os-attach": {"instance_uuid": "11111111-2222-3333-4444-555555555555", "mountpoint": "/dev/vdb", "mode": "rw"}}""")).Code);
        Assert.Equal("in-use", await Status(vol));
        var shown = (await h.SendAsync("GET", $"/v3/{P}/volumes/{vol}")).Body!["volume"]!;
        Assert.Equal("/dev/vdb", Assert.Single(shown["attachments"]!.AsArray())!["device"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("DELETE", $"/v3/{P}/volumes/{vol}")).Code);

        // Online extend while attached (3.42): the initiator sees the new size.
        Assert.Equal(HttpStatusCode.Accepted, (await Act(vol, """{"os-extend": {"new_size": 2}}""", "volume 3.42")).Code);
        Assert.Equal(2L << 30, (await IscsiTools.CapacityAsync(Host1, IscsiTools.Address(portal, iqn, 0, user, secret)))!.Value.Bytes);

        Assert.Equal(HttpStatusCode.Accepted, (await Act(vol, """{"os-begin_detaching": {}}""")).Code);
        Assert.Equal(HttpStatusCode.Accepted, (await Act(vol, """{"os-roll_detaching": {}}""")).Code);
        Assert.Equal("in-use", await Status(vol));
        Assert.Equal(HttpStatusCode.Accepted, (await Act(vol, """{"os-begin_detaching": {}}""")).Code);
        Assert.Equal(HttpStatusCode.Accepted, (await Act(vol, $$$$"""{"os-terminate_connection": {"connector": {"initiator": "{{{{Host1}}}}"}}}""")).Code);
        Assert.Null(await IscsiTools.CapacityAsync(Host1, IscsiTools.Address(portal, iqn, 0, user, secret)));
        Assert.Equal(HttpStatusCode.Accepted, (await Act(vol, """{"os-detach": {}}""")).Code);
        Assert.Equal("available", await Status(vol));
        Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("DELETE", $"/v3/{P}/volumes/{vol}")).Code);
    }

    [Fact]
    public async Task Attachments_api_reserves_connects_completes_and_deletes()
    {
        var vol = await h.CreateVolumeAsync(1);
        const string v = "volume 3.44";
        var created = await h.SendAsync("POST", $"/v3/{P}/attachments", $$$$"""{"attachment": {"volume_uuid": "{{{{vol}}}}", "instance_uuid": "99999999-2222-3333-4444-555555555555"}}""", version: v);
        Assert.True(created.Code == HttpStatusCode.OK, created.Text);
        var id = created.Body!["attachment"]!["id"]!.GetValue<string>();
        Assert.Equal("reserved", created.Body["attachment"]!["status"]!.GetValue<string>());
        Assert.Equal("reserved", await Status(vol));
        // A second attachment of a volume whose type does not allow multiattach is refused.
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("POST", $"/v3/{P}/attachments", $$$$"""{"attachment": {"volume_uuid": "{{{{vol}}}}"}}""", version: v)).Code);

        var upd = await h.SendAsync("PUT", $"/v3/{P}/attachments/{id}", $$$$"""{"attachment": {"connector": {"initiator": "{{{{Host2}}}}", "host": "compute-2"}}}""", version: v);
        Assert.True(upd.Code == HttpStatusCode.OK, upd.Text);
        var d = upd.Body!["attachment"]!["connection_info"]!["data"]!;
        var iqn = d["target_iqn"]!.GetValue<string>();
        var portal = d["target_portal"]!.GetValue<string>();
        var chap = (d["auth_username"]!.GetValue<string>(), d["auth_password"]!.GetValue<string>());
        Assert.Equal(1L << 30, (await IscsiTools.CapacityAsync(Host2, IscsiTools.Address(portal, iqn, 0, chap.Item1, chap.Item2)))!.Value.Bytes);
        Assert.Null(await IscsiTools.CapacityAsync(Host1, IscsiTools.Address(portal, iqn, 0, chap.Item1, chap.Item2)));

        Assert.Equal(HttpStatusCode.NoContent, (await h.SendAsync("POST", $"/v3/{P}/attachments/{id}/action", """{"os-complete": null}""", version: v)).Code);
        Assert.Equal("in-use", await Status(vol));
        Assert.Equal("attached", (await h.SendAsync("GET", $"/v3/{P}/attachments/{id}", version: v)).Body!["attachment"]!["status"]!.GetValue<string>());

        var del = await h.SendAsync("DELETE", $"/v3/{P}/attachments/{id}", version: v);
        Assert.Equal(HttpStatusCode.OK, del.Code);
        Assert.Equal("available", await Status(vol));
        Assert.Null(await IscsiTools.CapacityAsync(Host2, IscsiTools.Address(portal, iqn, 0, chap.Item1, chap.Item2)));
    }

    [Fact]
    public async Task A_read_only_volume_or_an_ro_attachment_is_exported_read_only_and_refuses_writes()
    {
        // The volume's read-only flag: the legacy connection answers access_mode ro and the target refuses writes.
        var vol = await h.CreateVolumeAsync(1);
        var data = new byte[4096];
        Random.Shared.NextBytes(data);
        var rw = await Act(vol, $$$$"""{"os-initialize_connection": {"connector": {"initiator": "{{{{Host1}}}}"}}}""");
        var d0 = rw.Body!["connection_info"]!["data"]!;
        Assert.Equal("rw", d0["access_mode"]!.GetValue<string>());
        using (var s = LibiscsiSession.Open(d0["target_portal"]!.GetValue<string>(), Host1, d0["target_iqn"]!.GetValue<string>(), 0,
            chap: (d0["auth_username"]!.GetValue<string>(), d0["auth_password"]!.GetValue<string>())))
            s.Write(0, data);
        Assert.Equal(HttpStatusCode.Accepted, (await Act(vol, $$$$"""{"os-terminate_connection": {"connector": {"initiator": "{{{{Host1}}}}"}}}""")).Code);
        Assert.Equal(HttpStatusCode.Accepted, (await Act(vol, """{"os-unreserve": {}}""")).Code);
        Assert.Equal("available", await Status(vol));

        Assert.Equal(HttpStatusCode.Accepted, (await Act(vol, """{"os-update_readonly_flag": {"readonly": true}}""")).Code);
        var before = (await h.SendAsync("GET", $"/v3/{P}/volumes/{vol}")).Text;
        Assert.Equal(HttpStatusCode.BadRequest, (await Act(vol, """{"os-attach": {"instance_uuid": "11111111-2222-3333-4444-555555555555", "mode": "rw"}}""")).Code);
        Assert.Equal(before, (await h.SendAsync("GET", $"/v3/{P}/volumes/{vol}")).Text);

        var conn = await Act(vol, $$$$"""{"os-initialize_connection": {"connector": {"initiator": "{{{{Host1}}}}"}}}""");
        Assert.True(conn.Code == HttpStatusCode.OK, conn.Text);
        var d = conn.Body!["connection_info"]!["data"]!;
        Assert.Equal("ro", d["access_mode"]!.GetValue<string>());
        using (var s = LibiscsiSession.Open(d["target_portal"]!.GetValue<string>(), Host1, d["target_iqn"]!.GetValue<string>(), 0,
            chap: (d["auth_username"]!.GetValue<string>(), d["auth_password"]!.GetValue<string>())))
        {
            Assert.Equal(data, s.Read(0, data.Length));
            var refused = s.TryWrite(0, new byte[4096]);
            Assert.NotNull(refused);
            Assert.Contains("DATA PROTECTION", refused, StringComparison.Ordinal);
            Assert.Equal(data, s.Read(0, data.Length));
        }
        Assert.Equal(HttpStatusCode.Accepted, (await Act(vol, """{"os-attach": {"instance_uuid": "11111111-2222-3333-4444-555555555555", "mode": "ro"}}""")).Code);
        Assert.Equal("in-use", await Status(vol));
        Assert.Equal(HttpStatusCode.Accepted, (await Act(vol, $$$$"""{"os-terminate_connection": {"connector": {"initiator": "{{{{Host1}}}}"}}}""")).Code);
        Assert.Equal(HttpStatusCode.Accepted, (await Act(vol, """{"os-detach": {}}""")).Code);

        // An attachment asked for in mode ro (3.54) of a writable volume: the same.
        var other = await h.CreateVolumeAsync(1);
        const string v = "volume 3.54";
        var created = await h.SendAsync("POST", $"/v3/{P}/attachments",
            $$$$"""{"attachment": {"volume_uuid": "{{{{other}}}}", "mode": "ro", "connector": {"initiator": "{{{{Host2}}}}"}}}""", version: v);
        Assert.True(created.Code == HttpStatusCode.OK, created.Text);
        var a = created.Body!["attachment"]!;
        var ad = a["connection_info"]!["data"]!;
        Assert.Equal("ro", ad["access_mode"]!.GetValue<string>());
        using (var s = LibiscsiSession.Open(ad["target_portal"]!.GetValue<string>(), Host2, ad["target_iqn"]!.GetValue<string>(), 0,
            chap: (ad["auth_username"]!.GetValue<string>(), ad["auth_password"]!.GetValue<string>())))
            Assert.Contains("DATA PROTECTION", s.TryWrite(0, new byte[4096]) ?? "", StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await h.SendAsync("DELETE", $"/v3/{P}/attachments/{a["id"]!.GetValue<string>()}", version: v)).Code);
    }
}
