using System.Net;
using System.Text.Json.Nodes;
using Cairn.Core.Services;

namespace Cairn.Api.Tests.BlockStorage;

/// <summary>Volumes: create (empty, from a snapshot, from a volume), list/detail, show, update, delete, metadata, in process.</summary>
public sealed class VolumeTests(BlockStorageHost h) : IClassFixture<BlockStorageHost>
{
    private const string P = BlockStorageHost.Project;

    private VolumeService Engine => (VolumeService)h.Services.GetService(typeof(VolumeService))!;

    private async Task<JsonNode> ShowAsync(string id, string? version = null)
    {
        var r = await h.SendAsync("GET", $"/v3/{P}/volumes/{id}", version: version);
        Assert.True(r.Code == HttpStatusCode.OK, r.Text);
        return r.Body!["volume"]!;
    }

    private async Task<string> SnapshotAsync(string volume)
    {
        var r = await h.SendAsync("POST", $"/v3/{P}/snapshots", new JsonObject { ["snapshot"] = new JsonObject { ["volume_id"] = volume, ["name"] = "s" } }.ToJsonString());
        Assert.True(r.Code == HttpStatusCode.Accepted, r.Text);
        return r.Body!["snapshot"]!["id"]!.GetValue<string>();
    }

    [Fact]
    public async Task Create_answers_202_with_cinders_fields_and_the_volume_lives_in_the_pool()
    {
        var r = await h.SendAsync("POST", $"/v3/{P}/volumes", """{"volume": {"size": 2, "name": "first", "description": "d", "metadata": {"k": "v"}}}""");
        Assert.Equal(HttpStatusCode.Accepted, r.Code);
        var v = r.Body!["volume"]!;
        var id = v["id"]!.GetValue<string>();
        Assert.DoesNotContain(v.AsObject(), p => p.Key.StartsWith("os-vol-", StringComparison.Ordinal)); // Cinder's create answer has no extension attributes
        Assert.Equal(2, v["size"]!.GetValue<int>());
        Assert.Equal("first", v["name"]!.GetValue<string>());
        Assert.Equal("__DEFAULT__", v["volume_type"]!.GetValue<string>());
        Assert.Equal("false", v["bootable"]!.GetValue<string>());
        Assert.Equal("v", v["metadata"]!["k"]!.GetValue<string>());
        Assert.Empty(v["attachments"]!.AsArray());
        foreach (var f in new[] { "id", "name", "description", "size", "status", "links", "availability_zone", "created_at", "updated_at", "volume_type",
            "snapshot_id", "source_volid", "user_id", "replication_status", "consistencygroup_id", "metadata", "bootable", "encrypted", "multiattach", "attachments" })
            Assert.True(v.AsObject().ContainsKey(f), f);
        Assert.Equal(["bookmark", "self"], v["links"]!.AsArray().Select(l => l!["rel"]!.GetValue<string>()).Order());
        var shown = await ShowAsync(id);
        Assert.Equal("available", shown["status"]!.GetValue<string>());
        var ds = await Engine.GetDatasetAsync($"tank/volume-{id}", TestContext.Current.CancellationToken);
        Assert.Equal(2L << 30, ds!.Size);
    }

    [Fact]
    public async Task Fields_follow_the_microversion()
    {
        var id = await h.CreateVolumeAsync();
        var old = await ShowAsync(id);
        Assert.False(old.AsObject().ContainsKey("group_id"));
        Assert.False(old.AsObject().ContainsKey("shared_targets"));
        var v48 = await ShowAsync(id, "volume 3.48");
        Assert.True(v48.AsObject().ContainsKey("group_id"));
        Assert.True(v48.AsObject().ContainsKey("provider_id"));
        Assert.False(v48["shared_targets"]!.GetValue<bool>());
    }

    [Fact]
    public async Task From_snapshot_and_from_volume_are_engine_clones_and_keep_the_data_link()
    {
        var src = await h.CreateVolumeAsync(1);
        var snap = await SnapshotAsync(src);
        var fromSnap = await h.CreateVolumeAsync(2, extra: new JsonObject { ["snapshot_id"] = snap });
        var v = await ShowAsync(fromSnap);
        Assert.Equal(snap, v["snapshot_id"]!.GetValue<string>());
        Assert.Equal(2, v["size"]!.GetValue<int>());
        Assert.Equal($"tank/volume-{src}@snapshot-{snap}", (await Engine.GetDatasetAsync($"tank/volume-{fromSnap}", TestContext.Current.CancellationToken))!.Origin);

        var r = await h.SendAsync("POST", $"/v3/{P}/volumes", new JsonObject { ["volume"] = new JsonObject { ["source_volid"] = src } }.ToJsonString());
        Assert.Equal(HttpStatusCode.Accepted, r.Code);
        var fromVol = r.Body!["volume"]!["id"]!.GetValue<string>();
        Assert.Equal(src, (await ShowAsync(fromVol))["source_volid"]!.GetValue<string>());
        Assert.Equal(1, (await ShowAsync(fromVol))["size"]!.GetValue<int>());
        Assert.Equal($"tank/volume-{src}@clone-{fromVol}", (await Engine.GetDatasetAsync($"tank/volume-{fromVol}", TestContext.Current.CancellationToken))!.Origin);
        // The internal snapshot of a clone of a volume is not a Cinder snapshot.
        var snaps = await h.SendAsync("GET", $"/v3/{P}/snapshots?volume_id={src}");
        Assert.Single(snaps.Body!["snapshots"]!.AsArray());
    }

    [Fact]
    public async Task Deleting_a_source_whose_clones_live_succeeds_and_its_dataset_goes_with_the_last_clone()
    {
        var src = await h.CreateVolumeAsync(1);
        var snap = await SnapshotAsync(src);
        var clone = await h.CreateVolumeAsync(1, extra: new JsonObject { ["snapshot_id"] = snap });
        var r2 = await h.SendAsync("POST", $"/v3/{P}/volumes", new JsonObject { ["volume"] = new JsonObject { ["source_volid"] = src } }.ToJsonString());
        var clone2 = r2.Body!["volume"]!["id"]!.GetValue<string>();

        // Cinder allows deleting the snapshot (its clone is independent) and then the volume: both go from the API now.
        Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("DELETE", $"/v3/{P}/snapshots/{snap}")).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/snapshots/{snap}")).Code);
        Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("DELETE", $"/v3/{P}/volumes/{src}")).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/volumes/{src}")).Code);
        Assert.NotNull(await Engine.GetDatasetAsync($"tank/volume-{src}", TestContext.Current.CancellationToken)); // deferred: clones still hang on it

        Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("DELETE", $"/v3/{P}/volumes/{clone}")).Code);
        Assert.NotNull(await Engine.GetDatasetAsync($"tank/volume-{src}", TestContext.Current.CancellationToken));
        Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("DELETE", $"/v3/{P}/volumes/{clone2}")).Code);
        Assert.Null(await Engine.GetDatasetAsync($"tank/volume-{src}", TestContext.Current.CancellationToken));
        Assert.Null(await Engine.GetDatasetAsync($"tank/volume-{clone}", TestContext.Current.CancellationToken));
        Assert.Null(await Engine.GetDatasetAsync($"tank/volume-{clone2}", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Delete_refuses_snapshots_unless_cascade_and_refuses_wrong_status()
    {
        var id = await h.CreateVolumeAsync();
        var snap = await SnapshotAsync(id);
        var refused = await h.SendAsync("DELETE", $"/v3/{P}/volumes/{id}");
        Assert.Equal(HttpStatusCode.BadRequest, refused.Code);
        Assert.StartsWith("Invalid volume", refused.Body!["badRequest"]!["message"]!.GetValue<string>());
        Assert.Equal("available", (await ShowAsync(id))["status"]!.GetValue<string>());

        Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("POST", $"/v3/{P}/volumes/{id}/action", """{"os-reset_status": {"status": "in-use"}}""")).Code);
        var busy = await h.SendAsync("DELETE", $"/v3/{P}/volumes/{id}?cascade=true");
        Assert.Equal(HttpStatusCode.BadRequest, busy.Code);
        Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("POST", $"/v3/{P}/volumes/{id}/action", """{"os-reset_status": {"status": "available"}}""")).Code);

        Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("DELETE", $"/v3/{P}/volumes/{id}?cascade=true")).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/snapshots/{snap}")).Code);
        Assert.Null(await Engine.GetDatasetAsync($"tank/volume-{id}", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task List_filters_sorts_and_pages_with_absolute_next_links()
    {
        var tag = Guid.NewGuid().ToString("N")[..6];
        var ids = new List<string>();
        for (int i = 0; i < 5; i++)
            ids.Add(await h.CreateVolumeAsync(1 + i % 2, name: $"{tag}-{i}", extra: new JsonObject { ["metadata"] = new JsonObject { ["tag"] = tag } }));
        var all = new List<string>();
        string? url = $"/v3/{P}/volumes/detail?metadata={Uri.EscapeDataString($"{{'tag': '{tag}'}}")}&sort=name:asc&limit=2";
        while (url is not null)
        {
            var page = await h.SendAsync("GET", url);
            Assert.Equal(HttpStatusCode.OK, page.Code);
            all.AddRange(page.Body!["volumes"]!.AsArray().Select(v => v!["name"]!.GetValue<string>()));
            var next = page.Body["volumes_links"]?.AsArray().FirstOrDefault(l => l!["rel"]!.GetValue<string>() == "next")?["href"]?.GetValue<string>();
            if (next is not null) Assert.StartsWith(h.Url.ToString(), next);
            url = next is null ? null : new Uri(next).PathAndQuery;
        }
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"{tag}-{i}"), all);

        var byName = await h.SendAsync("GET", $"/v3/{P}/volumes?name={tag}-3");
        Assert.Equal(ids[3], Assert.Single(byName.Body!["volumes"]!.AsArray())!["id"]!.GetValue<string>());
        Assert.Equal(["id", "links", "name"], byName.Body["volumes"]![0]!.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal));
        var sized = await h.SendAsync("GET", $"/v3/{P}/volumes/detail?metadata={Uri.EscapeDataString($"{{\"tag\": \"{tag}\"}}")}&size=2&sort_key=name&sort_dir=desc");
        Assert.Equal([$"{tag}-3", $"{tag}-1"], sized.Body!["volumes"]!.AsArray().Select(v => v!["name"]!.GetValue<string>()));
        var like = await h.SendAsync("GET", $"/v3/{P}/volumes?name~={tag}&with_count=true", version: "volume 3.45");
        Assert.Equal(5, like.Body!["count"]!.GetValue<int>());
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("GET", $"/v3/{P}/volumes?sort=nosuchkey:asc")).Code);
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("GET", $"/v3/{P}/volumes?limit=abc")).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/volumes?marker={Guid.NewGuid()}")).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/volumes/")).Code);
    }

    [Fact]
    public async Task Update_changes_name_description_and_metadata()
    {
        var id = await h.CreateVolumeAsync();
        var r = await h.SendAsync("PUT", $"/v3/{P}/volumes/{id}", """{"volume": {"name": "renamed", "description": "new"}}""");
        Assert.Equal(HttpStatusCode.OK, r.Code);
        Assert.Equal("renamed", r.Body!["volume"]!["name"]!.GetValue<string>());
        Assert.Equal("new", (await ShowAsync(id))["description"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("PUT", $"/v3/{P}/volumes/{id}", """{"volume": {"size": 5}}""")).Code);
    }

    [Fact]
    public async Task Metadata_every_verb()
    {
        var id = await h.CreateVolumeAsync(extra: new JsonObject { ["metadata"] = new JsonObject { ["a"] = "1" } });
        var m = $"/v3/{P}/volumes/{id}/metadata";
        Assert.Equal("1", (await h.SendAsync("GET", m)).Body!["metadata"]!["a"]!.GetValue<string>());
        var merged = await h.SendAsync("POST", m, """{"metadata": {"b": "2"}}""");
        Assert.Equal(["a", "b"], merged.Body!["metadata"]!.AsObject().Select(p => p.Key).Order());
        var replaced = await h.SendAsync("PUT", m, """{"metadata": {"c": "3"}}""");
        Assert.Equal(["c"], replaced.Body!["metadata"]!.AsObject().Select(p => p.Key));
        Assert.Equal("3", (await h.SendAsync("GET", m + "/c")).Body!["meta"]!["c"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, (await h.SendAsync("PUT", m + "/d", """{"meta": {"d": "4"}}""")).Code);
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("PUT", m + "/d", """{"meta": {"e": "4"}}""")).Code);
        Assert.Equal(HttpStatusCode.BadRequest, (await h.SendAsync("PUT", m + "/d", """{"meta": {"d": "4", "e": "5"}}""")).Code);
        Assert.Equal(HttpStatusCode.OK, (await h.SendAsync("DELETE", m + "/c")).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", m + "/c")).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("DELETE", m + "/c")).Code);
        Assert.Equal(["d"], (await ShowAsync(id))["metadata"]!.AsObject().Select(p => p.Key));
    }

    [Theory]
    [InlineData("""{"volume": {"size": 0}}""", 400)]
    [InlineData("""{"volume": {"size": -1}}""", 400)]
    [InlineData("""{"volume": {"size": "abc"}}""", 400)]
    [InlineData("""{"volume": {"size": 1.5}}""", 400)]
    [InlineData("""{"volume": {}}""", 400)]
    [InlineData("""{"volume": {"size": 1, "volume_type": "nosuchtype"}}""", 404)]
    [InlineData("""{"volume": {"size": 1, "snapshot_id": "00000000-0000-0000-0000-000000000001"}}""", 404)]
    [InlineData("""{"volume": {"size": 1, "source_volid": "00000000-0000-0000-0000-000000000001"}}""", 404)]
    [InlineData("""{"volume": {"size": 1, "availability_zone": "elsewhere"}}""", 400)]
    [InlineData("""{"volume": {"size": 100000}}""", 413)]
    [InlineData("""{"volume": {"size": 1, "metadata": {"k": 5}}}""", 400)]
    [InlineData("""{"volume": 5}""", 400)]
    [InlineData("""{"volume": {"size": 1}""", 400)]
    [InlineData("""[1]""", 400)]
    public async Task Bad_creates_are_cinders_faults_and_change_nothing(string body, int code)
    {
        var before = (await h.SendAsync("GET", $"/v3/{P}/volumes?limit=1000")).Body!["volumes"]!.AsArray().Count;
        var r = await h.SendAsync("POST", $"/v3/{P}/volumes", body);
        Assert.True(code == (int)r.Code, r.Text);
        var fault = r.Body!.AsObject().Single();
        Assert.Equal(code, fault.Value!["code"]!.GetValue<int>());
        Assert.False(string.IsNullOrEmpty(fault.Value["message"]!.GetValue<string>()));
        Assert.DoesNotContain("   at ", r.Text);
        Assert.Equal(before, (await h.SendAsync("GET", $"/v3/{P}/volumes?limit=1000")).Body!["volumes"]!.AsArray().Count);
    }

    [Fact]
    public async Task Wrong_content_type_is_415_and_a_huge_body_413()
    {
        var r = await h.SendAsync("POST", $"/v3/{P}/volumes", """{"volume": {"size": 1}}""", contentType: "text/plain");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, r.Code);
        Assert.NotNull(r.Body!["badMediaType"]);
        var huge = "{\"volume\": {\"size\": 1, \"description\": \"" + new string('x', 200_000) + "\"}}";
        var big = await h.SendAsync("POST", $"/v3/{P}/volumes", huge);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, big.Code);
        Assert.NotNull(big.Body!["overLimit"]);
    }

    [Fact]
    public async Task Unknown_action_and_unknown_volume_are_400_and_404()
    {
        var id = await h.CreateVolumeAsync();
        var r = await h.SendAsync("POST", $"/v3/{P}/volumes/{id}/action", """{"os-no-such-thing": {}}""");
        Assert.Equal(HttpStatusCode.BadRequest, r.Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/volumes/{Guid.NewGuid()}")).Code);
        Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/volumes/not-a-uuid")).Code);
    }
}
