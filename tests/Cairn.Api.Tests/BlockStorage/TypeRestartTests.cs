using System.Net;
using System.Text.Json.Nodes;

namespace Cairn.Api.Tests.BlockStorage;

/// <summary>A private type's access list and a type's encryption spec are durable: a restarted server answers the same.</summary>
public sealed class TypeRestartTests
{
    private const string P = BlockStorageHost.Project;

    [Fact]
    public async Task Access_lists_and_encryption_specs_survive_a_restart()
    {
        var dir = Path.Combine(Path.GetTempPath(), "cairn-bs-types-" + Guid.NewGuid().ToString("N"));
        var q = Guid.NewGuid().ToString("N");
        string type, accessBefore, encryptionBefore;
        try
        {
            await using (var h = BlockStorageHost.Over(dir))
            {
                await h.InitializeAsync();
                var r = await h.SendAsync("POST", $"/v3/{P}/types", new JsonObject { ["volume_type"] = new JsonObject { ["name"] = "kept", ["is_public"] = false } }.ToJsonString());
                type = r.Body!["volume_type"]!["id"]!.GetValue<string>();
                Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("POST", $"/v3/{P}/types/{type}/action", new JsonObject { ["addProjectAccess"] = new JsonObject { ["project"] = q } }.ToJsonString())).Code);
                Assert.Equal(HttpStatusCode.OK, (await h.SendAsync("POST", $"/v3/{P}/types/{type}/encryption", """{"encryption": {"provider": "luks", "key_size": 256, "control_location": "front-end"}}""")).Code);
                accessBefore = (await h.SendAsync("GET", $"/v3/{P}/types/{type}/os-volume-type-access")).Text;
                encryptionBefore = (await h.SendAsync("GET", $"/v3/{P}/types/{type}/encryption")).Text;
            }
            await using (var h = BlockStorageHost.Over(dir))
            {
                await h.InitializeAsync();
                Assert.Equal(accessBefore, (await h.SendAsync("GET", $"/v3/{P}/types/{type}/os-volume-type-access")).Text);
                Assert.Equal(encryptionBefore, (await h.SendAsync("GET", $"/v3/{P}/types/{type}/encryption")).Text);
                Assert.Equal(HttpStatusCode.OK, (await h.SendAsync("GET", $"/v3/{q}/types/{type}", token: "member1:" + q)).Code);
            }
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }
}
