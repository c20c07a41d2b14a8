using System.Net;
using System.Text.Json.Nodes;

namespace Cairn.Api.Tests.BlockStorage;

/// <summary>
/// Volume type encryption specs (<c>/types/{id}/encryption</c>) against the real server: Cinder's bodies, its
/// admin-only policy, its refusals while volumes of the type exist, and what volumes of an encrypted type say.
/// </summary>
public sealed class EncryptionTypeTests(BlockStorageHost h) : IClassFixture<BlockStorageHost>
{
    private const string P = BlockStorageHost.Project;
    private const string Luks = """{"encryption": {"provider": "luks", "cipher": "aes-xts-plain64", "key_size": 256, "control_location": "front-end"}}""";

    private async Task<string> CreateTypeAsync()
    {
        var r = await h.SendAsync("POST", $"/v3/{P}/types", new JsonObject { ["volume_type"] = new JsonObject { ["name"] = "enc-" + Guid.NewGuid().ToString("N")[..8] } }.ToJsonString());
        Assert.True(r.Code == HttpStatusCode.OK, r.Text);
        return r.Body!["volume_type"]!["id"]!.GetValue<string>();
    }

    private async Task<JsonObject> ShowAsync(string type)
    {
        var r = await h.SendAsync("GET", $"/v3/{P}/types/{type}/encryption");
        Assert.True(r.Code == HttpStatusCode.OK, r.Text);
        return r.Body!.AsObject();
    }

    private static string[] Keys(JsonNode n) => [.. n.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task Encryption_spec_create_show_update_and_delete_as_cinder()
    {
        var type = await CreateTypeAsync();
        Assert.Empty(await ShowAsync(type)); // Cinder answers {} for a type without encryption

        var created = await h.SendAsync("POST", $"/v3/{P}/types/{type}/encryption", """{"encryption": {"provider": "LuksEncryptor", "key_size": "256", "control_location": "front-end"}}""");
        Assert.True(created.Code == HttpStatusCode.OK, created.Text);
        var e = created.Body!["encryption"]!;
        Assert.Equal(["control_location", "encryption_id", "key_size", "provider", "volume_type_id"], Keys(e)); // what was asked, with the ids
        Assert.Equal(256, e["key_size"]!.GetValue<int>());
        Assert.Equal(type, e["volume_type_id"]!.GetValue<string>());
        var encryptionId = e["encryption_id"]!.GetValue<string>();
        Assert.True(Guid.TryParse(encryptionId, out _));

        var shown = await ShowAsync(type);
        Assert.Equal(["cipher", "control_location", "created_at", "deleted", "deleted_at", "encryption_id", "key_size", "provider", "updated_at", "volume_type_id"], Keys(shown));
        Assert.Equal(("LuksEncryptor", 256, "front-end", encryptionId), (shown["provider"]!.GetValue<string>(), shown["key_size"]!.GetValue<int>(), shown["control_location"]!.GetValue<string>(), shown["encryption_id"]!.GetValue<string>()));
        Assert.Null(shown["cipher"]);
        Assert.Null(shown["updated_at"]);

        var updated = await h.SendAsync("PUT", $"/v3/{P}/types/{type}/encryption/provider", """{"encryption": {"key_size": 128, "cipher": "aes-xts-plain64", "control_location": "back-end"}}""");
        Assert.True(updated.Code == HttpStatusCode.OK, updated.Text);
        Assert.Equal(["cipher", "control_location", "key_size"], Keys(updated.Body!["encryption"]!));
        shown = await ShowAsync(type);
        Assert.Equal(("LuksEncryptor", 128, "back-end", "aes-xts-plain64", encryptionId),
            (shown["provider"]!.GetValue<string>(), shown["key_size"]!.GetValue<int>(), shown["control_location"]!.GetValue<string>(), shown["cipher"]!.GetValue<string>(), shown["encryption_id"]!.GetValue<string>()));
        Assert.NotNull(shown["updated_at"]);

        var item = await h.SendAsync("GET", $"/v3/{P}/types/{type}/encryption/cipher");
        Assert.Equal(HttpStatusCode.OK, item.Code);
        Assert.Equal("aes-xts-plain64", Assert.Single(item.Body!.AsObject()).Value!.GetValue<string>());
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/types/{type}/encryption/nosuchkey")).Code);

        var deleted = await h.SendAsync("DELETE", $"/v3/{P}/types/{type}/encryption/provider");
        Assert.Equal(HttpStatusCode.Accepted, deleted.Code);
        Assert.Equal("", deleted.Text);
        Assert.Empty(await ShowAsync(type));
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("DELETE", $"/v3/{P}/types/{type}/encryption/provider")).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/types/{type}/encryption/cipher")).Code);
    }

    [Fact]
    public async Task Bad_encryption_input_is_refused_and_changes_nothing()
    {
        var type = await CreateTypeAsync();
        Assert.Equal(HttpStatusCode.OK, (await h.SendAsync("POST", $"/v3/{P}/types/{type}/encryption", Luks)).Code);
        var before = (await ShowAsync(type)).ToJsonString();

        var bare = await CreateTypeAsync();
        string[] badEither =
        [
            """{"encryption": {"provider": "luks", "control_location": "middle"}}""",
            """{"encryption": {"provider": "luks", "control_location": "front-end", "key_size": -1}}""",
            """{"encryption": {"provider": "luks", "control_location": "front-end", "key_size": "big"}}""",
            """{"encryption": {"provider": "luks", "control_location": "front-end", "colour": "blue"}}""",
            """{"encryption": {"provider": 5, "control_location": "front-end"}}""",
            """{"encryption": {"provider": "luks", "control_location": "front-end", "cipher": 3}}""",
            """{"encryption": "luks"}""", """{"specs": {}}""", "[1]", "{bad json",
        ];
        string[] badCreate = ["""{"encryption": {"control_location": "front-end"}}""", """{"encryption": {"provider": "luks"}}"""]; // both required on create
        foreach (var bad in badEither.Concat(badCreate))
        {
            var r = await h.SendAsync("POST", $"/v3/{P}/types/{bare}/encryption", bad);
            Assert.True(r.Code == HttpStatusCode.BadRequest, bad + " → " + r.Text);
            Assert.NotNull(r.Body!["badRequest"]);
        }
        foreach (var bad in badEither)
        {
            var r = await h.SendAsync("PUT", $"/v3/{P}/types/{type}/encryption/provider", bad);
            Assert.True(r.Code == HttpStatusCode.BadRequest, bad + " → " + r.Text);
        }
        Assert.Empty(await ShowAsync(bare));
        Assert.Equal(before, (await ShowAsync(type)).ToJsonString());

        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("POST", $"/v3/{P}/types/{type}/encryption", Luks)).Code); // exists already (Cinder: Invalid, 400)
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("PUT", $"/v3/{P}/types/{bare}/encryption/provider", """{"encryption": {"key_size": 128}}""")).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("DELETE", $"/v3/{P}/types/{bare}/encryption/provider")).Code);
        var unknown = Guid.NewGuid();
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("POST", $"/v3/{P}/types/{unknown}/encryption", Luks)).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/types/{unknown}/encryption")).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("DELETE", $"/v3/{P}/types/{unknown}/encryption/provider")).Code);
        Assert.Empty(await ShowAsync(bare));
        Assert.Equal(before, (await ShowAsync(type)).ToJsonString());
    }

    [Fact]
    public async Task Encryption_specs_are_admin_only()
    {
        var type = await CreateTypeAsync();
        var q = Guid.NewGuid().ToString("N");
        var member = "member1:" + q;
        Assert.Equal(HttpStatusCode.Forbidden, (await h.SendAsync("GET", $"/v3/{q}/types/{type}/encryption", token: member)).Code);
        Assert.Equal(HttpStatusCode.Forbidden, (await h.SendAsync("GET", $"/v3/{q}/types/{type}/encryption/provider", token: member)).Code);
        var create = await h.SendAsync("POST", $"/v3/{q}/types/{type}/encryption", Luks, member);
        Assert.Equal(HttpStatusCode.Forbidden, create.Code);
        Assert.NotNull(create.Body!["forbidden"]);
        Assert.Empty(await ShowAsync(type));
        Assert.Equal(HttpStatusCode.OK, (await h.SendAsync("POST", $"/v3/{P}/types/{type}/encryption", Luks)).Code);
        var before = (await ShowAsync(type)).ToJsonString();
        Assert.Equal(HttpStatusCode.Forbidden, (await h.SendAsync("PUT", $"/v3/{q}/types/{type}/encryption/provider", """{"encryption": {"key_size": 128}}""", member)).Code);
        Assert.Equal(HttpStatusCode.Forbidden, (await h.SendAsync("DELETE", $"/v3/{q}/types/{type}/encryption/provider", token: member)).Code);
        Assert.Equal(before, (await ShowAsync(type)).ToJsonString());
    }

    [Fact]
    public async Task Volumes_of_an_encrypted_type_say_so_and_freeze_its_spec()
    {
        var type = await CreateTypeAsync();
        Assert.Equal(HttpStatusCode.OK, (await h.SendAsync("POST", $"/v3/{P}/types/{type}/encryption", Luks)).Code);
        var before = (await ShowAsync(type)).ToJsonString();
        var vol = await h.CreateVolumeAsync(1, extra: new JsonObject { ["volume_type"] = type });
        Assert.True((await h.SendAsync("GET", $"/v3/{P}/volumes/{vol}")).Body!["volume"]!["encrypted"]!.GetValue<bool>());
        var plain = await h.CreateVolumeAsync(1);
        Assert.False((await h.SendAsync("GET", $"/v3/{P}/volumes/{plain}")).Body!["volume"]!["encrypted"]!.GetValue<bool>());

        // The connection info tells os-brick to put its encryptor in front (front-end: the compute host encrypts).
        const string Initiator = "iqn.1994-05.com.example:enc-test";
        var conn = await h.SendAsync("POST", $"/v3/{P}/volumes/{vol}/action", $$$$"""{"os-initialize_connection": {"connector": {"initiator": "{{{{Initiator}}}}"}}}""");
        Assert.True(conn.Code == HttpStatusCode.OK, conn.Text);
        Assert.True(conn.Body!["connection_info"]!["data"]!["encrypted"]!.GetValue<bool>());
        Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("POST", $"/v3/{P}/volumes/{vol}/action", $$$$"""{"os-terminate_connection": {"connector": {"initiator": "{{{{Initiator}}}}"}}}""")).Code);
        Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("POST", $"/v3/{P}/volumes/{vol}/action", """{"os-unreserve": {}}""")).Code); // as Nova after a failed attach

        // While a volume of the type exists its spec cannot change (Cinder: 400 "Volume type in use"), nor can the volume change encryption by retype.
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("PUT", $"/v3/{P}/types/{type}/encryption/provider", """{"encryption": {"key_size": 128}}""")).Code);
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("DELETE", $"/v3/{P}/types/{type}/encryption/provider")).Code);
        Assert.Equal(before, (await ShowAsync(type)).ToJsonString());
        var def = (await h.SendAsync("GET", $"/v3/{P}/types/default")).Body!["volume_type"]!["id"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("POST", $"/v3/{P}/volumes/{vol}/action", $$$"""{"os-retype": {"new_type": "{{{def}}}"}}""")).Code);
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("POST", $"/v3/{P}/volumes/{plain}/action", $$$"""{"os-retype": {"new_type": "{{{type}}}"}}""")).Code);
        var other = await CreateTypeAsync();
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("POST", $"/v3/{P}/types/{type}/encryption", Luks)).Code);

        // Once the volume is gone the spec may change again.
        Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("DELETE", $"/v3/{P}/volumes/{vol}")).Code);
        Assert.Equal(HttpStatusCode.OK, (await h.SendAsync("PUT", $"/v3/{P}/types/{type}/encryption/provider", """{"encryption": {"key_size": 512}}""")).Code);
        Assert.Equal(512, (await ShowAsync(type))["key_size"]!.GetValue<int>());
        Assert.Equal(HttpStatusCode.OK, (await h.SendAsync("POST", $"/v3/{P}/types/{other}/encryption", """{"encryption": {"provider": "luks", "control_location": "back-end"}}""")).Code);

        // Back-end encryption would be the storage's job, and Cairn's engine does not encrypt: no volume of such a type.
        var vols = (await h.SendAsync("GET", $"/v3/{P}/volumes")).Body!["volumes"]!.AsArray().Count;
        var refused = await h.SendAsync("POST", $"/v3/{P}/volumes", new JsonObject { ["volume"] = new JsonObject { ["size"] = 1, ["volume_type"] = other } }.ToJsonString());
        Assert.Equal(HttpStatusCode.BadRequest, refused.Code);
        Assert.Contains("back-end", refused.Body!["badRequest"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(vols, (await h.SendAsync("GET", $"/v3/{P}/volumes")).Body!["volumes"]!.AsArray().Count);
    }
}
