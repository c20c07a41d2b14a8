using Cairn.Api.BlockStorage.Http;
using Cairn.Core.Pools;
using Cairn.Core.Services;
using Cairn.Core.Storage;

namespace Cairn.Api.BlockStorage.Model;

/// <summary>One engine volume of the Block Storage pool, as <c>manageable_volumes</c> lists it.</summary>
/// <param name="Reference">Its name relative to the pool (Cinder's <c>source-name</c>).</param>
/// <param name="Dataset">The engine's view of it.</param>
/// <param name="Gigabytes">Its size rounded up to a whole GiB (what a manage makes it).</param>
/// <param name="Safe">Whether a manage would take it.</param>
/// <param name="Reason">Why not, when not.</param>
/// <param name="CinderId">The Block Storage volume it is, when it is one.</param>
public sealed record Manageable(string Reference, DatasetInfo Dataset, int Gigabytes, bool Safe, string? Reason, Guid? CinderId);

/// <summary>What a manage asks for, already parsed.</summary>
public sealed record VolumeManage(string Host, string? SourceName, Guid? SourceId, string? Name, string? Description, string? Type, string? Zone,
    JsonObject Metadata, bool Bootable);

/// <summary>
/// Manage existing (Cinder's <c>os-volume-manage</c>, <c>manageable_volumes</c>, <c>os-unmanage</c>): an engine volume
/// of the Block Storage pool changes owner between the admin module (the admin API, the LUN clone API, or a dataset
/// made outside Cairn) and this module, without moving data. The change of owner is one state-store transaction (the
/// old record out, the new one in), so that a crash leaves the volume owned by exactly one module; the engine dataset
/// keeps its name, so the admin API sees it at the same place after an unmanage.
/// </summary>
public sealed partial class ManageWorkflows(VolumeService volumes, PoolRouter pools, IStateStore store, CinderCatalog catalog,
    VolumeWorkflows workflows, BlockStorageOptions options, ILogger<ManageWorkflows> log)
{
    private readonly KeyedLock _locks = new();

    /// <summary>Cinder's <c>host@backend#pool</c> values that name this service: <c>cairn@cairn</c> and <c>cairn@cairn#POOL</c>.</summary>
    public void RequireHost(string? host, bool listing)
    {
        if (string.IsNullOrEmpty(host)) throw CinderError.BadRequest("Invalid input received: Host field is missing.");
        if (host == options.Host || host == options.Host + "#" + options.Pool) return;
        // Cinder: an unknown host is ServiceNotFound, which the manage call answers as 503 and the listing as 404.
        throw listing ? CinderError.NotFound($"Service {host} could not be found.") : new CinderError(503, $"Host '{host}' not found");
    }

    /// <summary>The volumes of the pool with what stops each from being managed.</summary>
    public async Task<IReadOnlyList<Manageable>> ListAsync(CancellationToken ct)
    {
        if (!pools.Has(options.Pool)) return [];
        var prefix = options.Pool + "/";
        var datasets = (await volumes.ListAsync(options.Pool, ct)).Select(v => v.Dataset).Where(d => d.Kind == DatasetKind.Volume && d.Name.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        var records = store.ListVolumes().ToDictionary(r => r.Name, StringComparer.Ordinal);
        var exported = ExportedDatasets();
        var snapshots = (await volumes.ListSnapshotsAsync(null, ct)).ToLookup(s => s.Dataset, StringComparer.Ordinal);
        var list = new List<Manageable>();
        foreach (var d in datasets)
        {
            var rec = records.GetValueOrDefault(d.Name);
            var reason = Unsafe(d, rec, exported, [.. snapshots[d.Name]]);
            Guid? cinderId = rec is not null && rec.Module == Cinder.Module && rec.Status != Cinder.Deleted ? rec.Id : null;
            list.Add(new Manageable(d.Name[prefix.Length..], d, Gigabytes(d.Size), reason is null, reason, cinderId));
        }
        return list;
    }

    private static int Gigabytes(long bytes) => (int)((bytes + Cinder.GiB - 1) / Cinder.GiB);

    private HashSet<string> ExportedDatasets() =>
        store.ListTargets().SelectMany(t => t.Luns).Select(l => l.Dataset).ToHashSet(StringComparer.Ordinal);

    // A volume with snapshots can be managed (its snapshots stay the admin's until each is managed, as in Cinder), unless
    // one of them is exported or has clones: a clone of the admin's would hang on a Block Storage volume.
    private static string? Unsafe(DatasetInfo d, VolumeRecord? rec, HashSet<string> exported, IReadOnlyList<SnapshotInfo> snapshots)
    {
        if (rec is not null && rec.Module == Cinder.Module) return "already managed";
        if (rec is not null && rec.Module != Modules.Admin) return $"owned by module {rec.Module}";
        if (exported.Contains(d.Name)) return "volume is exported by an iSCSI target";
        if (snapshots.FirstOrDefault(s => s.Clones.Count > 0) is { } cloned) return $"snapshot {cloned.Name} of the volume has clones";
        if (d.Origin is not null) return $"volume is a clone of {d.Origin}";
        return null;
    }

    /// <summary>Adopts an engine volume into the caller's project (202 with the volume).</summary>
    public async Task<VolumeRecord> ManageAsync(CinderRequest c, VolumeManage req, CancellationToken ct)
    {
        c.RequireAdmin();
        RequireHost(req.Host, listing: false);
        var type = req.Type is null ? catalog.Default()
            : catalog.Find(req.Type) ?? throw CinderError.NotFound($"Volume type with name {req.Type} could not be found.");
        var zone = req.Zone ?? options.AvailabilityZone;
        if (zone != options.AvailabilityZone) throw CinderError.BadRequest($"Invalid input received: Availability zone '{zone}' is invalid.");
        if (!pools.Has(options.Pool))
            throw new CinderError(503, $"The block storage pool '{options.Pool}' does not exist; create it (cairn pool create {options.Pool}) or set BlockStoragePool.");
        var refText = req.SourceName is not null ? $"{{'source-name': '{req.SourceName}'}}" : $"{{'source-id': '{req.SourceId}'}}";
        CinderError Invalid(string why) => CinderError.BadRequest($"Manage existing volume failed due to invalid backend reference {refText}: {why}");

        string name;
        if (req.SourceName is { } sn)
        {
            var relative = sn.StartsWith(options.Pool + "/", StringComparison.Ordinal) ? sn[(options.Pool.Length + 1)..] : sn;
            if (relative.Length == 0 || Names.CheckDataset(options.Pool + "/" + relative) is not null) throw Invalid("not a volume name");
            name = options.Pool + "/" + relative;
        }
        else
        {
            var byId = store.GetVolume(req.SourceId!.Value);
            if (byId is null || !byId.Name.StartsWith(options.Pool + "/", StringComparison.Ordinal)) throw Invalid("no volume of the pool has that id");
            name = byId.Name;
        }

        using (await _locks.AcquireAsync(name, ct))
        {
            var ds = await volumes.GetDatasetAsync(name, ct);
            if (ds is null || ds.Kind != DatasetKind.Volume) throw Invalid($"volume {name} does not exist");
            var rec = store.FindVolume(name);
            if (rec is not null && rec.Module == Cinder.Module)
                throw CinderError.BadRequest($"Unable to manage existing volume. Volume {refText} already managed.");
            var reason = Unsafe(ds, rec, ExportedDatasets(), await volumes.ListSnapshotsAsync(name, ct));
            if (reason is null && (await volumes.ListSnapshotsAsync(name, ct)).FirstOrDefault(s => ExportedSnapshots().Contains(s.FullName)) is { } shared)
                reason = $"snapshot {shared.Name} of the volume is exported by an iSCSI target";
            if (reason is not null) throw Invalid(reason);
            var size = Gigabytes(ds.Size);
            using var quota = await workflows.QuotaLockAsync(c.Project, ct);
            workflows.CheckQuota(c.Project, volumes: 1, snapshots: 0, gigabytes: size);

            // Cinder's rule: the size is the engine size rounded up to a whole GiB. The engine volume grows to it (thin,
            // the data is unchanged) while it is still the admin's, so that record and engine agree.
            if (ds.Size != (long)size * Cinder.GiB) await volumes.ResizeAsync(name, (long)size * Cinder.GiB, Owner.Admin, ct);

            var id = Guid.NewGuid();
            var now = DateTimeOffset.UtcNow;
            var attrs = VolumeWorkflows.NewAttributes(c, req.Name, req.Description, type, zone, null, null, req.Bootable, req.Metadata);
            var record = new VolumeRecord(id, c.Project, name, "available", (long)size * Cinder.GiB, now, now, attrs, Cinder.Module);
            // The change of owner: one transaction, so a crash leaves either the admin record or the Cinder one.
            // Its snapshots stay the admin's (manageable_snapshots lists them), now on the new volume record.
            var snapshots = rec is null ? [] : store.ListSnapshots(rec.Id);
            await store.WriteAsync(w =>
            {
                if (rec is not null) w.DeleteVolume(rec.Id);
                w.Put(record);
                foreach (var s in snapshots) w.Put(s with { VolumeId = id, Updated = now });
            }, ct);
            Log.Managed(log, name, id, c.Project);
            return record;
        }
    }

    /// <summary>Gives a volume back to the admin module (Cinder's delete rules, without destroying the data).</summary>
    public async Task UnmanageAsync(CinderRequest c, VolumeRecord v, CancellationToken ct)
    {
        c.RequireAdmin();
        if (!VolumeWorkflows.DeletableStatuses.Contains(v.Status))
            throw CinderError.BadRequest("Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer.");
        if (workflows.HasAttachments(v)) throw CinderError.BadRequest("Invalid volume: Volume must not be attached to be unmanaged.");
        using (await _locks.AcquireAsync(v.Name, ct))
        {
            var snaps = store.ListSnapshots(v.Id);
            if (snaps.Any(s => s.IsVisible()))
                throw CinderError.BadRequest($"Invalid volume: Volume {v.Id} has snapshots; delete or unmanage them first.");
            // Hidden records are Block Storage's own (internal snapshots, snapshots waiting for their clones); snapshots the
            // admin owns (unmanaged, or never managed) go back with the volume.
            if (snaps.Any(s => s.Module == Cinder.Module) || (await volumes.ListSnapshotsAsync(v.Name, ct)).Any(s => s.Clones.Count > 0))
                throw CinderError.BadRequest($"Invalid volume: Volume {v.Id} has volumes cloned from it (or snapshots waiting for their clones); delete those first.");
            var ds = await volumes.GetDatasetAsync(v.Name, ct);
            if (ds is null) throw CinderError.BadRequest($"Invalid volume: Volume {v.Id} has no data in the engine (its status is {v.Status}); delete it instead.");
            var now = DateTimeOffset.UtcNow;
            // The admin module's record as the core makes it: the engine's id, project admin, no attributes.
            var admin = new VolumeRecord(ds.Id, VolumeService.AdminProject, ds.Name, "available", ds.Size, now, now, Module: Modules.Admin);
            await store.WriteAsync(w =>
            {
                w.DeleteVolume(v.Id);
                w.Put(admin);
                foreach (var s in snaps) w.Put(s with { VolumeId = admin.Id, Updated = now });
            }, ct);
            Log.Unmanaged(log, v.Name, v.Id);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3121, Level = LogLevel.Information, Message = "block storage: engine volume {Dataset} managed as volume {Id} of project {Project}")]
        public static partial void Managed(ILogger logger, string dataset, Guid id, string project);

        [LoggerMessage(EventId = 3122, Level = LogLevel.Information, Message = "block storage: volume {Id} unmanaged; engine volume {Dataset} is an admin volume again")]
        public static partial void Unmanaged(ILogger logger, string dataset, Guid id);
    }
}
