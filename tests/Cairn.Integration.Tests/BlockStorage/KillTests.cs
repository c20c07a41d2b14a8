using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Cairn.Integration.Tests.Support;

namespace Cairn.Integration.Tests.BlockStorage;

/// <summary>
/// SIGKILL of a real <c>cairn serve --auth keystone</c> between Block Storage calls and in the middle of a burst of
/// them, restarted on the same data directory each time. After every restart: no volume is left in a transitional
/// status, the engine's datasets and snapshots in the Block Storage pool are exactly those the Cinder records account
/// for (a hidden deferred deletion only while clones hang on it), every Cinder attachment target exists and no
/// other, and every acknowledged create is there.
/// </summary>
public sealed class KillTests
{
    private const string Iqn = "iqn.2010-10.org.openstack:volume-";
    private static readonly string[] Transitional = ["creating", "deleting", "attaching", "detaching", "reserved", "extending", "downloading", "maintenance"];

    [Fact]
    public async Task Sigkill_between_calls_leaves_no_stuck_volume_no_orphan_engine_object_and_no_orphan_target()
    {
        var dir = TempDir.Create("cairn-bs-kill");
        var data = Path.Combine(dir, "data");
        var server = await OpenStackCloud.StartServerAsync(data);
        try
        {
            var user = await OpenStackUser.CreateAsync(server, dir, "kill", "admin");
            var api = await Api.ConnectAsync(server, user);
            await api.UnlimitedQuotaAsync();

            async Task Restart(string after)
            {
                server.Kill();
                await server.DisposeAsync();
                server = await OpenStackCloud.StartServerAsync(data, server);
                api = await Api.ConnectAsync(server, user);
                await AssertConsistentAsync(api, after);
                var failed = (await api.ListAsync("volumes/detail", "volumes")).Where(v => (string)v["status"]! == "error").ToList();
                Assert.True(failed.Count == 0, $"after kill -9 at {after}: acknowledged volumes in error: {string.Join(", ", failed.Select(v => v["id"]))}");
            }

            var a = await api.CreateVolumeAsync(new JsonObject { ["size"] = 1, ["name"] = "k-a" });
            await Restart("create");
            var s = (string)(await api.SendAsync(HttpMethod.Post, "snapshots", new JsonObject { ["snapshot"] = new JsonObject { ["volume_id"] = a, ["name"] = "k-s" } }))["snapshot"]!["id"]!;
            await Restart("snapshot create");
            var b = await api.CreateVolumeAsync(new JsonObject { ["snapshot_id"] = s, ["name"] = "k-b" });
            await Restart("create from snapshot");
            await api.ActionAsync(a, new JsonObject { ["os-extend"] = new JsonObject { ["new_size"] = 2 } });
            await Restart("extend");
            Assert.Equal(2, (int)(await api.VolumeAsync(a))!["size"]!);
            var c = await api.CreateVolumeAsync(new JsonObject { ["source_volid"] = a, ["name"] = "k-c" });
            await Restart("create from volume");

            // Attachments API (what Nova uses): create with a connector (a target), complete, then the legacy call.
            var attachment = (string)(await api.SendAsync(HttpMethod.Post, "attachments", new JsonObject
            {
                ["attachment"] = new JsonObject { ["volume_uuid"] = b, ["instance_uuid"] = Guid.NewGuid().ToString(), ["connector"] = Connector("iqn.2026-12.test:kill-b") },
            }))["attachment"]!["id"]!;
            await Restart("attachment create");
            await api.SendAsync(HttpMethod.Post, $"attachments/{attachment}/action", new JsonObject { ["os-complete"] = null });
            await Restart("attachment complete");
            Assert.Equal("in-use", (string)(await api.VolumeAsync(b))!["status"]!);
            var info = await api.ActionAsync(c, new JsonObject { ["os-initialize_connection"] = new JsonObject { ["connector"] = Connector("iqn.2026-12.test:kill-c") } });
            Assert.Equal("iscsi", (string)info["connection_info"]!["driver_volume_type"]!);
            await Restart("os-initialize_connection");
            await api.ActionAsync(c, new JsonObject { ["os-terminate_connection"] = new JsonObject { ["connector"] = Connector("iqn.2026-12.test:kill-c") } });
            await Restart("os-terminate_connection");
            await api.SendAsync(HttpMethod.Delete, $"attachments/{attachment}");
            await Restart("attachment delete");
            Assert.Equal("available", (string)(await api.VolumeAsync(b))!["status"]!);

            // The snapshot while b still hangs on it (deferred), then the volumes in the order that collects the chain.
            await api.SendAsync(HttpMethod.Delete, $"snapshots/{s}");
            await Restart("snapshot delete (deferred)");
            await api.SendAsync(HttpMethod.Delete, $"volumes/{a}");
            await Restart("delete of a volume with clones (deferred)");
            foreach (var v in new[] { b, c })
            {
                await api.SendAsync(HttpMethod.Delete, $"volumes/{v}");
                await Restart("delete");
            }

            Assert.Empty(await api.ListAsync("volumes/detail", "volumes"));
            Assert.Empty(await api.ListAsync("snapshots/detail", "snapshots"));
            var engine = await EngineAsync(api);
            Assert.True(engine.Volumes.Count == 0 && engine.Snapshots.Count == 0,
                $"engine objects left after every Cinder object was deleted: {string.Join(", ", engine.Volumes.Keys.Concat(engine.Snapshots.Keys))}");
            Assert.Empty(await OpenStackTargetsAsync(api));
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Sigkill_during_a_burst_of_creates_and_deletes_keeps_every_acknowledged_create()
    {
        var dir = TempDir.Create("cairn-bs-burst");
        var data = Path.Combine(dir, "data");
        var server = await OpenStackCloud.StartServerAsync(data);
        // Acknowledged creates → 0 no delete sent, 1 delete sent (the kill may have come before its answer: either
        // outcome is right), 2 delete acknowledged.
        var created = new ConcurrentDictionary<string, int>();
        var rnd = new Random(11);
        try
        {
            var user = await OpenStackUser.CreateAsync(server, dir, "burst", "admin");
            var api = await Api.ConnectAsync(server, user);
            await api.UnlimitedQuotaAsync();
            var baseVolume = await api.CreateVolumeAsync(new JsonObject { ["size"] = 1, ["name"] = "burst-base" });
            var baseSnap = (string)(await api.SendAsync(HttpMethod.Post, "snapshots", new JsonObject { ["snapshot"] = new JsonObject { ["volume_id"] = baseVolume } }))["snapshot"]!["id"]!;

            for (var round = 0; round < 3; round++)
            {
                var acknowledged = 0;
                var wanted = 20 + rnd.Next(40);
#pragma warning disable CA2000 // disposed by the using declaration; the analyzer loses it in the loop's lambdas
                using var stop = new CancellationTokenSource();
#pragma warning restore CA2000
                var workers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
                {
                    while (!stop.IsCancellationRequested)
                    {
                        try
                        {
                            var body = w % 2 == 0 ? new JsonObject { ["size"] = 1 } : new JsonObject { ["snapshot_id"] = baseSnap };
                            using var r = await api.Http.PostAsJsonAsync(api.Path("volumes"), new JsonObject { ["volume"] = body }, stop.Token);
                            if (r.StatusCode != HttpStatusCode.Accepted) continue;
                            var id = (string)JsonNode.Parse(await r.Content.ReadAsStringAsync(stop.Token))!["volume"]!["id"]!;
                            created[id] = 0;
                            Interlocked.Increment(ref acknowledged);
                            var victim = created.Keys.FirstOrDefault(k => k != id && created.TryUpdate(k, 1, 0));
                            if (victim is null) continue;
                            using var d = await api.Http.DeleteAsync(api.Path($"volumes/{victim}"), stop.Token);
                            if (d.StatusCode == HttpStatusCode.Accepted) { created[victim] = 2; Interlocked.Increment(ref acknowledged); }
                        }
                        catch (HttpRequestException) { }
                        catch (OperationCanceledException) { }
                    }
                })).ToList();
                // Killed after a varying number of acknowledged answers, never after a fixed time.
                var deadline = DateTime.UtcNow.AddMinutes(2);
                while (Volatile.Read(ref acknowledged) < wanted)
                {
                    Assert.True(DateTime.UtcNow < deadline, $"round {round}: only {acknowledged} of {wanted} answers in 2 minutes\n{server.Log}");
                    await Task.Delay(10);
                }
                server.Kill();
                await stop.CancelAsync();
                await Task.WhenAll(workers);
                await server.DisposeAsync();

                server = await OpenStackCloud.StartServerAsync(data, server);
                api = await Api.ConnectAsync(server, user);
                await AssertConsistentAsync(api, $"burst round {round}");
                foreach (var (id, state) in created)
                {
                    var v = await api.VolumeAsync(id);
                    if (state == 1)
                    {
                        Assert.True(v is null || (string)v["status"]! == "available", $"round {round}: volume {id} whose delete was in flight is {v?["status"]}");
                        if (v is null) created[id] = 2; else created[id] = 0;
                        continue;
                    }
                    if (state == 2) Assert.True(v is null, $"round {round}: volume {id} whose delete was acknowledged is still there ({v?["status"]})");
                    else Assert.True(v is not null && (string)v["status"]! == "available", $"round {round}: acknowledged create {id} is {(v is null ? "gone" : (string)v["status"]!)}");
                }
                // Volumes created but not acknowledged may exist (the kill came before the answer): each is whole.
            }
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    private static JsonObject Connector(string initiator) => new()
    {
        ["initiator"] = initiator, ["ip"] = "127.0.0.1", ["host"] = "kill-test", ["platform"] = "x86_64", ["os_type"] = "linux", ["multipath"] = false,
    };

    /// <summary>What every restart must leave: nothing transitional (given a generous while for the start's recovery to
    /// show), engine objects that match the records, and targets that match the attachments.</summary>
    private static async Task AssertConsistentAsync(Api api, string after)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        List<JsonNode> volumes;
        while (true)
        {
            volumes = await api.ListAsync("volumes/detail?all_tenants=1", "volumes");
            var stuck = volumes.Where(v => Transitional.Contains((string)v["status"]!)).ToList();
            if (stuck.Count == 0) break;
            Assert.True(DateTime.UtcNow < deadline, $"after kill -9 at {after}: stuck {string.Join(", ", stuck.Select(v => $"{v["id"]} {v["status"]}"))}");
            await Task.Delay(200);
        }
        // A create killed before its answer may stay `error` (its dataset never made): that volume has no engine object.
        volumes = [.. volumes.Where(v => (string)v["status"]! != "error")];
        var snapshots = await api.ListAsync("snapshots/detail?all_tenants=1", "snapshots");
        Assert.DoesNotContain(snapshots, s => (string)s["status"]! is not "available");

        var engine = await EngineAsync(api);
        var datasets = volumes.ToDictionary(v => $"{OpenStackCloud.Pool}/volume-{v["id"]}", v => v);
        foreach (var d in datasets.Keys) Assert.True(engine.Volumes.ContainsKey(d), $"after {after}: Cinder volume without its dataset {d}");
        var snapNames = snapshots.Select(s => $"{OpenStackCloud.Pool}/volume-{s["volume_id"]}@snapshot-{s["id"]}").ToHashSet();
        foreach (var n in snapNames) Assert.True(engine.Snapshots.ContainsKey(n), $"after {after}: Cinder snapshot without its engine snapshot {n}");
        // An engine object no visible record names is a deferred deletion or a volume-from-volume's internal
        // snapshot: it must have something hanging on it, or it is an orphan.
        foreach (var (name, clones) in engine.Snapshots.Where(p => !snapNames.Contains(p.Key)))
            Assert.True(clones.Count > 0, $"after {after}: orphaned engine snapshot {name} (no Cinder snapshot, no clones)");
        foreach (var name in engine.Volumes.Keys.Where(d => !datasets.ContainsKey(d)))
            Assert.True(engine.Snapshots.Any(p => p.Key.StartsWith(name + "@", StringComparison.Ordinal) && p.Value.Count > 0),
                $"after {after}: orphaned engine dataset {name} (no Cinder volume, no clones)");

        var attachments = await api.ListAsync("attachments/detail?all_tenants=1", "attachments");
        var expected = attachments.Where(x => x["connection_info"] is JsonObject { Count: > 0 })
            .Select(x => $"{Iqn}{x["volume_id"]}-{x["id"]}").ToHashSet();
        var targets = (await OpenStackTargetsAsync(api)).ToHashSet();
        Assert.True(expected.SetEquals(targets), $"after {after}: attachment targets {string.Join(", ", expected)} but the exporter has {string.Join(", ", targets)}");
        foreach (var v in volumes)
        {
            var att = attachments.Count(x => (string)x["volume_id"]! == (string)v["id"]! && (string)x["status"]! == "attached");
            Assert.True((string)v["status"]! == (att > 0 ? "in-use" : "available"), $"after {after}: volume {v["id"]} is {v["status"]} with {att} completed attachments");
        }
    }

    private sealed record Engine(Dictionary<string, JsonNode> Volumes, Dictionary<string, List<string>> Snapshots);

    private static async Task<Engine> EngineAsync(Api api)
    {
        var vols = JsonNode.Parse(await api.Http.GetStringAsync($"/cairn/v1/volumes?root={OpenStackCloud.Pool}"))!.AsArray()
            .Where(v => (string)v!["type"]! == "volume").ToDictionary(v => (string)v!["name"]!, v => v!);
        var snaps = JsonNode.Parse(await api.Http.GetStringAsync("/cairn/v1/snapshots"))!.AsArray()
            .Where(s => ((string)s!["name"]!).StartsWith(OpenStackCloud.Pool + "/", StringComparison.Ordinal))
            .ToDictionary(s => (string)s!["name"]!, s => s!["clones"]!.AsArray().Select(c => (string)c!).ToList());
        return new Engine(vols, snaps);
    }

    private static async Task<List<string>> OpenStackTargetsAsync(Api api) =>
        [.. JsonNode.Parse(await api.Http.GetStringAsync("/cairn/v1/targets"))!.AsArray()
            .Select(t => (string)t!["iqn"]!).Where(i => i.StartsWith(Iqn, StringComparison.Ordinal))];

    /// <summary>The Block Storage API with a fresh token (a new one after each restart), microversion 3.44.</summary>
    private sealed class Api(HttpClient http, string project)
    {
        public HttpClient Http { get; } = http;

        public static async Task<Api> ConnectAsync(CairnProcess server, OpenStackUser user)
        {
#pragma warning disable CA2000 // the Api owns it for the rest of the test (one per server start)
            var http = new HttpClient { BaseAddress = new Uri(server.Url), Timeout = TimeSpan.FromSeconds(60) };
#pragma warning restore CA2000
            var (token, project) = await user.TokenAsync(http);
            http.DefaultRequestHeaders.Add("X-Auth-Token", token);
            http.DefaultRequestHeaders.Add("OpenStack-API-Version", "volume 3.44");
            return new Api(http, project);
        }

        public string Path(string rel) => $"/v3/{project}/{rel}";

        public async Task<JsonNode> SendAsync(HttpMethod method, string rel, JsonObject? body = null)
        {
            using var req = new HttpRequestMessage(method, Path(rel));
            if (body is not null) req.Content = JsonContent.Create(body);
            using var r = await Http.SendAsync(req);
            var text = await r.Content.ReadAsStringAsync();
            Assert.True(r.IsSuccessStatusCode, $"{method} {rel} answered {(int)r.StatusCode}: {text}");
            return text.Length == 0 ? new JsonObject() : JsonNode.Parse(text)!;
        }

        public Task<JsonNode> ActionAsync(string volume, JsonObject action) => SendAsync(HttpMethod.Post, $"volumes/{volume}/action", action);

        public async Task<string> CreateVolumeAsync(JsonObject volume) =>
            (string)(await SendAsync(HttpMethod.Post, "volumes", new JsonObject { ["volume"] = volume }))["volume"]!["id"]!;

        public async Task<JsonNode?> VolumeAsync(string id)
        {
            using var r = await Http.GetAsync(Path($"volumes/{id}"));
            if (r.StatusCode == HttpStatusCode.NotFound) return null;
            var text = await r.Content.ReadAsStringAsync();
            Assert.True(r.IsSuccessStatusCode, $"GET volumes/{id} answered {(int)r.StatusCode}: {text}");
            return JsonNode.Parse(text)!["volume"];
        }

        public async Task<List<JsonNode>> ListAsync(string rel, string key) =>
            [.. (await SendAsync(HttpMethod.Get, rel))[key]!.AsArray().Select(n => n!)];

        public Task<JsonNode> UnlimitedQuotaAsync() => SendAsync(HttpMethod.Put, $"os-quota-sets/{project}",
            new JsonObject { ["quota_set"] = new JsonObject { ["volumes"] = -1, ["snapshots"] = -1, ["gigabytes"] = -1 } });
    }
}
