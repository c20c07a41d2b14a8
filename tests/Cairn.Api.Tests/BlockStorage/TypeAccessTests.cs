using System.Net;
using System.Text.Json.Nodes;

namespace Cairn.Api.Tests.BlockStorage;

/// <summary>
/// Private volume types and their access lists (Cinder's os-volume-type-access) against the real server: who sees a
/// private type, who may create volumes of it, the admin-only access calls and their errors, and the type list's
/// <c>is_public</c> filter.
/// </summary>
public sealed class TypeAccessTests(BlockStorageHost h) : IClassFixture<BlockStorageHost>
{
    private const string P = BlockStorageHost.Project;

    private static string NewProject() => Guid.NewGuid().ToString("N");

    private async Task<string> CreatePrivateTypeAsync(string name)
    {
        var r = await h.SendAsync("POST", $"/v3/{P}/types", new JsonObject { ["volume_type"] = new JsonObject { ["name"] = name, ["os-volume-type-access:is_public"] = false } }.ToJsonString());
        Assert.True(r.Code == HttpStatusCode.OK, r.Text);
        Assert.False(r.Body!["volume_type"]!["os-volume-type-access:is_public"]!.GetValue<bool>());
        return r.Body["volume_type"]!["id"]!.GetValue<string>();
    }

    private Task<BlockStorageHost.Answer> Access(string type, string action, string project, string token = BlockStorageHost.Admin) =>
        h.SendAsync("POST", $"/v3/{P}/types/{type}/action", new JsonObject { [action] = new JsonObject { ["project"] = project } }.ToJsonString(), token);

    private async Task<List<(string Type, string Project)>> AccessList(string type)
    {
        var r = await h.SendAsync("GET", $"/v3/{P}/types/{type}/os-volume-type-access");
        Assert.True(r.Code == HttpStatusCode.OK, r.Text);
        return [.. r.Body!["volume_type_access"]!.AsArray().Select(e => (e!["volume_type_id"]!.GetValue<string>(), e["project_id"]!.GetValue<string>()))];
    }

    private async Task<List<string>> TypeNames(string project, string token, string query = "")
    {
        var r = await h.SendAsync("GET", $"/v3/{project}/types{query}", token: token);
        Assert.True(r.Code == HttpStatusCode.OK, r.Text);
        return [.. r.Body!["volume_types"]!.AsArray().Select(t => t!["name"]!.GetValue<string>())];
    }

    private async Task<int> VolumeCount(string project, string token) =>
        (await h.SendAsync("GET", $"/v3/{project}/volumes", token: token)).Body!["volumes"]!.AsArray().Count;

    [Fact]
    public async Task A_private_type_is_seen_and_used_only_by_projects_given_access()
    {
        var name = "private-" + Guid.NewGuid().ToString("N")[..8];
        var type = await CreatePrivateTypeAsync(name);
        string q = NewProject(), other = NewProject();
        var member = "member1:" + q;
        var outsider = "member1:" + other;

        // Before access: invisible to the project, and a volume of it is 404 with nothing created.
        Assert.DoesNotContain(name, await TypeNames(q, member));
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{q}/types/{type}", token: member)).Code);
        var refused = await h.SendAsync("POST", $"/v3/{q}/volumes", new JsonObject { ["volume"] = new JsonObject { ["size"] = 1, ["volume_type"] = type } }.ToJsonString(), member);
        Assert.Equal(HttpStatusCode.NotFound, refused.Code);
        Assert.NotNull(refused.Body!["itemNotFound"]);
        Assert.Equal(0, await VolumeCount(q, member));

        var add = await Access(type, "addProjectAccess", q);
        Assert.Equal(HttpStatusCode.Accepted, add.Code);
        Assert.Equal("", add.Text);
        var list = await h.SendAsync("GET", $"/v3/{P}/types/{type}/os-volume-type-access");
        var entry = Assert.Single(list.Body!["volume_type_access"]!.AsArray())!.AsObject();
        Assert.Equal(["project_id", "volume_type_id"], entry.Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.Equal((type, q), (entry["volume_type_id"]!.GetValue<string>(), entry["project_id"]!.GetValue<string>()));

        // With access: listed, shown (without extra specs, as to any member), usable; another project still sees nothing.
        Assert.Contains(name, await TypeNames(q, member));
        var shown = await h.SendAsync("GET", $"/v3/{q}/types/{type}", token: member);
        Assert.Equal(HttpStatusCode.OK, shown.Code);
        Assert.False(shown.Body!["volume_type"]!["is_public"]!.GetValue<bool>());
        Assert.False(shown.Body["volume_type"]!.AsObject().ContainsKey("extra_specs"));
        var vol = await h.CreateVolumeAsync(1, token: member, project: q, extra: new JsonObject { ["volume_type"] = type });
        Assert.Equal(name, (await h.SendAsync("GET", $"/v3/{q}/volumes/{vol}", token: member)).Body!["volume"]!["volume_type"]!.GetValue<string>());
        Assert.DoesNotContain(name, await TypeNames(other, outsider));
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{other}/types/{type}", token: outsider)).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("POST", $"/v3/{other}/volumes", new JsonObject { ["volume"] = new JsonObject { ["size"] = 1, ["volume_type"] = name } }.ToJsonString(), outsider)).Code);

        // A second project, then removal of the first: the list follows, and the first project loses sight of the type.
        Assert.Equal(HttpStatusCode.Accepted, (await Access(type, "addProjectAccess", other)).Code);
        Assert.Equal([(type, q), (type, other)], await AccessList(type));
        Assert.Equal(HttpStatusCode.Accepted, (await Access(type, "removeProjectAccess", q)).Code);
        Assert.Equal([(type, other)], await AccessList(type));
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{q}/types/{type}", token: member)).Code);
        Assert.Equal(HttpStatusCode.OK, (await h.SendAsync("GET", $"/v3/{other}/types/{type}", token: outsider)).Code);
    }

    [Fact]
    public async Task Access_calls_are_admin_only_and_bad_ones_change_nothing()
    {
        var type = await CreatePrivateTypeAsync("private-" + Guid.NewGuid().ToString("N")[..8]);
        var q = NewProject();
        Assert.Equal(HttpStatusCode.Accepted, (await Access(type, "addProjectAccess", q)).Code);
        var before = await AccessList(type);

        var member = "member1:" + q;
        var forbidden = await h.SendAsync("POST", $"/v3/{q}/types/{type}/action", new JsonObject { ["addProjectAccess"] = new JsonObject { ["project"] = NewProject() } }.ToJsonString(), member);
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.Code);
        Assert.NotNull(forbidden.Body!["forbidden"]);
        Assert.Equal(HttpStatusCode.Forbidden, (await h.SendAsync("POST", $"/v3/{q}/types/{type}/action", new JsonObject { ["removeProjectAccess"] = new JsonObject { ["project"] = q } }.ToJsonString(), member)).Code);
        Assert.Equal(HttpStatusCode.Forbidden, (await h.SendAsync("GET", $"/v3/{q}/types/{type}/os-volume-type-access", token: member)).Code);

        var duplicate = await Access(type, "addProjectAccess", q);
        Assert.Equal(HttpStatusCode.Conflict, duplicate.Code);
        Assert.NotNull(duplicate.Body!["conflictingRequest"]);
        Assert.Equal(HttpStatusCode.NotFound, (await Access(type, "removeProjectAccess", NewProject())).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await Access(Guid.NewGuid().ToString(), "addProjectAccess", NewProject())).Code);
        Assert.Equal(HttpStatusCode.BadRequest, (await Access(type, "addProjectAccess", "not-a-project-id")).Code);
        foreach (var bad in new[]
        {
            """{"addProjectAccess": "x"}""", """{"addProjectAccess": {}}""", """{"addProjectAccess": {"project": 7}}""", """{"grantEverything": {}}""",
            """{"addProjectAccess": {"project": "0123456789abcdef0123456789abcdef"}, "removeProjectAccess": {"project": "0123456789abcdef0123456789abcdef"}}""", "{nope",
        })
            Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("POST", $"/v3/{P}/types/{type}/action", bad)).Code);
        Assert.Equal(before, await AccessList(type));

        // A public type has no access list to change or show (Cinder: 400 to change, 404 to list).
        var pub = (await h.SendAsync("POST", $"/v3/{P}/types", new JsonObject { ["volume_type"] = new JsonObject { ["name"] = "public-" + Guid.NewGuid().ToString("N")[..8] } }.ToJsonString())).Body!["volume_type"]!["id"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.BadRequest, (await Access(pub, "addProjectAccess", q)).Code);
        Assert.Equal(HttpStatusCode.BadRequest, (await Access(pub, "removeProjectAccess", q)).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/types/{pub}/os-volume-type-access")).Code);
    }

    [Fact]
    public async Task Type_list_is_public_filter_works_as_cinder()
    {
        var priv = "private-" + Guid.NewGuid().ToString("N")[..8];
        var granted = "granted-" + Guid.NewGuid().ToString("N")[..8];
        await CreatePrivateTypeAsync(priv);
        var grantedId = await CreatePrivateTypeAsync(granted);
        Assert.Equal(HttpStatusCode.Accepted, (await Access(grantedId, "addProjectAccess", P)).Code);

        // An admin without is_public sees the public types and the private ones of its project; none = all; false = private only.
        var plain = await TypeNames(P, BlockStorageHost.Admin);
        Assert.Contains("__DEFAULT__", plain);
        Assert.Contains(granted, plain);
        Assert.DoesNotContain(priv, plain);
        Assert.Equal(plain, await TypeNames(P, BlockStorageHost.Admin, "?is_public=true"));
        var all = await TypeNames(P, BlockStorageHost.Admin, "?is_public=None");
        Assert.Contains(priv, all);
        Assert.Contains("__DEFAULT__", all);
        var privateOnly = await TypeNames(P, BlockStorageHost.Admin, "?is_public=false");
        Assert.Contains(priv, privateOnly);
        Assert.Contains(granted, privateOnly);
        Assert.DoesNotContain("__DEFAULT__", privateOnly);
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("GET", $"/v3/{P}/types?is_public=perhaps")).Code);

        // Others cannot widen their view: is_public is ignored for them.
        var q = NewProject();
        var member = "member1:" + q;
        Assert.DoesNotContain(priv, await TypeNames(q, member, "?is_public=false"));
        Assert.DoesNotContain(priv, await TypeNames(q, member, "?is_public=none"));
        Assert.Contains("__DEFAULT__", await TypeNames(q, member, "?is_public=false"));
    }

    [Fact]
    public async Task Renaming_a_private_type_keeps_its_access_list()
    {
        var type = await CreatePrivateTypeAsync("private-" + Guid.NewGuid().ToString("N")[..8]);
        var q = NewProject();
        Assert.Equal(HttpStatusCode.Accepted, (await Access(type, "addProjectAccess", q)).Code);
        Assert.Equal(HttpStatusCode.OK, (await h.SendAsync("PUT", $"/v3/{P}/types/{type}", """{"volume_type": {"description": "renamed"}}""")).Code);
        Assert.Equal(HttpStatusCode.OK, (await h.SendAsync("POST", $"/v3/{P}/types/{type}/extra_specs", """{"extra_specs": {"k": "v"}}""")).Code);
        Assert.Equal([(type, q)], await AccessList(type));
    }
}
