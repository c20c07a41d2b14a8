using System.Net;
using System.Text.Json.Nodes;
using Cairn.Core.State;
using Microsoft.Extensions.DependencyInjection;

namespace Cairn.Api.Tests.BlockStorage;

/// <summary>What a restart makes of records a crash left half done (written here as a crash would leave them).</summary>
public sealed class RestartTests
{
    private const string P = BlockStorageHost.Project;

    [Fact]
    public async Task Creating_volumes_survive_a_restart_as_error_or_available_and_deleting_ones_are_finished()
    {
        var dir = Path.Combine(Path.GetTempPath(), "cairn-bs-restart-" + Guid.NewGuid().ToString("N"));
        Guid neverMade = Guid.NewGuid(), made, deleting;
        try
        {
            await using (var h = BlockStorageHost.Over(dir))
            {
                await h.InitializeAsync();
                made = Guid.Parse(await h.CreateVolumeAsync(1));
                deleting = Guid.Parse(await h.CreateVolumeAsync(1));
                var store = h.Services.GetRequiredService<IStateStore>();
                var now = DateTimeOffset.UtcNow;
                // The process died after the durable `creating` record and before the engine made the dataset…
                var attrs = new JsonObject { ["name"] = "lost", ["metadata"] = new JsonObject() };
                await store.WriteAsync(w => w.Put(new VolumeRecord(neverMade, P, $"tank/volume-{neverMade:D}", "creating", 1L << 30, now, now, attrs, Modules.BlockStorage)), TestContext.Current.CancellationToken);
                // …after the engine made one but before `available` was written, and in the middle of a delete.
                await store.WriteAsync(w =>
                {
                    w.Put(store.GetVolume(made)! with { Status = "creating" });
                    w.Put(store.GetVolume(deleting)! with { Status = "deleting" });
                }, TestContext.Current.CancellationToken);
            }
            await using (var h = BlockStorageHost.Over(dir))
            {
                await h.InitializeAsync();
                var lost = await h.SendAsync("GET", $"/v3/{P}/volumes/{neverMade}");
                Assert.Equal(HttpStatusCode.OK, lost.Code);
                Assert.Equal("error", lost.Body!["volume"]!["status"]!.GetValue<string>());
                Assert.Equal("available", (await h.SendAsync("GET", $"/v3/{P}/volumes/{made}")).Body!["volume"]!["status"]!.GetValue<string>());
                Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/volumes/{deleting}")).Code);
                var engine = h.Services.GetRequiredService<Cairn.Core.Services.VolumeService>();
                Assert.Null(await engine.GetDatasetAsync($"tank/volume-{deleting:D}", TestContext.Current.CancellationToken));
                // The volume in error can be deleted, as Cinder allows.
                Assert.Equal(HttpStatusCode.Accepted, (await h.SendAsync("DELETE", $"/v3/{P}/volumes/{neverMade}")).Code);
                Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/volumes/{neverMade}")).Code);
            }
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }
}

/// <summary>A crash around a manage or an unmanage leaves each volume owned by exactly one module after the restart.</summary>
public sealed class ManageRestartTests
{
    private const string P = BlockStorageHost.Project;

    [Fact]
    public async Task Managed_and_unmanaged_volumes_keep_exactly_one_owner_across_a_restart()
    {
        var dir = Path.Combine(Path.GetTempPath(), "cairn-bs-manage-restart-" + Guid.NewGuid().ToString("N"));
        var ct = TestContext.Current.CancellationToken;
        try
        {
            string managedId, unmanagedId, managedSnapId;
            await using (var h = BlockStorageHost.Over(dir))
            {
                await h.InitializeAsync();
                var engine = h.Services.GetRequiredService<Cairn.Core.Services.VolumeService>();
                await engine.CreateVolumeAsync("tank/adopt-me", 1L << 30, parents: false, ct: ct);
                await engine.CreateVolumeAsync("tank/never-adopted", 1L << 30, parents: false, ct: ct);
                await engine.CreateSnapshotAsync("tank/adopt-me", "adopted-snap", ct: ct);
                await engine.CreateSnapshotAsync("tank/adopt-me", "admin-snap", ct: ct);
                var m = await h.SendAsync("POST", $"/v3/{P}/os-volume-manage",
                    """{"volume": {"host": "cairn@cairn#tank", "ref": {"source-name": "adopt-me"}}}""");
                Assert.True(m.Code == HttpStatusCode.Accepted, m.Text);
                managedId = m.Body!["volume"]!["id"]!.GetValue<string>();
                // Two admin snapshots went with it: one is managed, one stays the admin's.
                var sm = await h.SendAsync("POST", $"/v3/{P}/os-snapshot-manage",
                    new JsonObject { ["snapshot"] = new JsonObject { ["volume_id"] = managedId, ["ref"] = new JsonObject { ["source-name"] = "adopted-snap" } } }.ToJsonString());
                Assert.True(sm.Code == HttpStatusCode.Accepted, sm.Text);
                managedSnapId = sm.Body!["snapshot"]!["id"]!.GetValue<string>();
                unmanagedId = await h.CreateVolumeAsync(1);
                var u = await h.SendAsync("POST", $"/v3/{P}/volumes/{unmanagedId}/action", """{"os-unmanage": null}""");
                Assert.True(u.Code == HttpStatusCode.Accepted, u.Text);
                // The process dies here: no orderly stop of the engine's or the store's caches is relied on below,
                // because every change of owner was one durable store transaction before its answer.
            }
            await using (var h = BlockStorageHost.Over(dir))
            {
                await h.InitializeAsync();
                var store = h.Services.GetRequiredService<IStateStore>();
                Assert.Single(store.ListVolumes(), r => r.Name == "tank/adopt-me");
                Assert.Equal(Modules.BlockStorage, store.FindVolume("tank/adopt-me")!.Module);
                Assert.Equal("available", (await h.SendAsync("GET", $"/v3/{P}/volumes/{managedId}")).Body!["volume"]!["status"]!.GetValue<string>());
                Assert.Single(store.ListVolumes(), r => r.Name == $"tank/volume-{unmanagedId}");
                Assert.Equal(Modules.Admin, store.FindVolume($"tank/volume-{unmanagedId}")!.Module);
                Assert.Equal(HttpStatusCode.NotFound, (await h.SendAsync("GET", $"/v3/{P}/volumes/{unmanagedId}")).Code);
                Assert.Equal(Modules.Admin, store.FindVolume("tank/never-adopted")!.Module);
                // One record per engine snapshot, each with its owner, on the managed volume's record.
                var snaps = store.ListSnapshots(Guid.Parse(managedId));
                Assert.Equal(2, snaps.Count);
                Assert.Equal(Modules.BlockStorage, snaps.Single(x => x.Name == "adopted-snap").Module);
                Assert.Equal(Modules.Admin, snaps.Single(x => x.Name == "admin-snap").Module);
                Assert.Equal("available", (await h.SendAsync("GET", $"/v3/{P}/snapshots/{managedSnapId}")).Body!["snapshot"]!["status"]!.GetValue<string>());
            }
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }
}
