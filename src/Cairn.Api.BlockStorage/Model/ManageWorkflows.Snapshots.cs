using Cairn.Api.BlockStorage.Http;
using Cairn.Core.Storage;

namespace Cairn.Api.BlockStorage.Model;

/// <summary>One engine snapshot of a volume of the Block Storage pool, as <c>manageable_snapshots</c> lists it.</summary>
/// <param name="Reference">The snapshot's name on its volume (Cinder's <c>source-name</c>).</param>
/// <param name="VolumeReference">Its volume's name relative to the pool (Cinder's <c>source_reference</c>).</param>
/// <param name="Snapshot">The engine's view of it.</param>
/// <param name="Gigabytes">Its size rounded up to a whole GiB.</param>
/// <param name="Safe">Whether a manage would take it.</param>
/// <param name="Reason">Why not, when not.</param>
/// <param name="CinderId">The Block Storage snapshot it is, when it is one.</param>
public sealed record ManageableSnapshot(string Reference, string VolumeReference, SnapshotInfo Snapshot, int Gigabytes, bool Safe, string? Reason, Guid? CinderId);

/// <summary>What a snapshot manage asks for, already parsed.</summary>
public sealed record SnapshotManage(Guid VolumeId, string SourceName, string? Name, string? Description, JsonObject Metadata);

// Snapshots change owner the way volumes do: the engine snapshot keeps its name, and one transaction swaps the admin
// record (engine id) for the Block Storage one (an id of its own, the engine name kept as the record's name, which is
// how the reconciler finds a module's snapshot in the engine).
public sealed partial class ManageWorkflows
{
    /// <summary>Every engine snapshot of the pool's volumes, with what stops each from being managed.</summary>
    public async Task<IReadOnlyList<ManageableSnapshot>> ListSnapshotsAsync(CancellationToken ct)
    {
        if (!pools.Has(options.Pool)) return [];
        var prefix = options.Pool + "/";
        var records = store.ListVolumes().ToDictionary(r => r.Name, StringComparer.Ordinal);
        var exported = ExportedSnapshots();
        var list = new List<ManageableSnapshot>();
        foreach (var s in await volumes.ListSnapshotsAsync(null, ct))
        {
            if (!s.Dataset.StartsWith(prefix, StringComparison.Ordinal)) continue;
            var vol = records.GetValueOrDefault(s.Dataset);
            var rec = vol is null ? null : store.ListSnapshots(vol.Id).FirstOrDefault(r => r.Name == s.Name);
            var reason = UnsafeSnapshot(s, vol, rec, exported);
            Guid? cinderId = rec is not null && rec.Module == Cinder.Module && rec.IsVisible() ? rec.Id : null;
            list.Add(new ManageableSnapshot(s.Name, s.Dataset[prefix.Length..], s, Gigabytes(s.Size), reason is null, reason, cinderId));
        }
        return list;
    }

    private HashSet<string> ExportedSnapshots() =>
        store.ListTargets().SelectMany(t => t.Luns).Where(l => l.Snapshot is not null).Select(l => l.Dataset + "@" + l.Snapshot).ToHashSet(StringComparer.Ordinal);

    private static string? UnsafeSnapshot(SnapshotInfo s, VolumeRecord? vol, SnapshotRecord? rec, HashSet<string> exported)
    {
        if (rec is not null && rec.Module == Cinder.Module) return VolumeAttrs.Flag(rec.Attributes, "internal") ? "internal snapshot of Block Storage" : "already managed";
        if (rec is not null && rec.Module != Modules.Admin) return $"owned by module {rec.Module}";
        if (vol is null || !vol.IsVisible()) return "its volume is not managed by Block Storage; manage the volume first";
        if (exported.Contains(s.Dataset + "@" + s.Name)) return "snapshot is exported by an iSCSI target";
        if (s.Clones.Count > 0) return $"snapshot has clones ({string.Join(", ", s.Clones)})";
        return null;
    }

    /// <summary>Adopts an engine snapshot of a Block Storage volume (202 with the snapshot).</summary>
    public async Task<SnapshotRecord> ManageSnapshotAsync(CinderRequest c, SnapshotManage req, CancellationToken ct)
    {
        c.RequireAdmin();
        var vol = workflows.Get(req.VolumeId) is { } found && (c.IsAdmin || found.Project == c.Project)
            ? found : throw CinderError.NotFound($"Volume {req.VolumeId} could not be found.");
        var refText = $"{{'source-name': '{req.SourceName}'}}";
        CinderError Invalid(string why) => CinderError.BadRequest($"Manage existing snapshot failed due to invalid backend reference {refText}: {why}");
        // The reference is the snapshot's name, or volume@snapshot as the admin API and `zfs list -t snapshot` show it.
        var snapName = req.SourceName.Contains('@', StringComparison.Ordinal) ? req.SourceName[(req.SourceName.IndexOf('@', StringComparison.Ordinal) + 1)..] : req.SourceName;
        if (req.SourceName.Contains('@', StringComparison.Ordinal))
        {
            var volPart = req.SourceName[..req.SourceName.IndexOf('@', StringComparison.Ordinal)];
            if (volPart != vol.Name && options.Pool + "/" + volPart != vol.Name) throw Invalid($"the snapshot is not one of volume {req.VolumeId}");
        }
        if (snapName.Length == 0 || Names.CheckSnapshot(vol.Name + "@" + snapName) is not null) throw Invalid("not a snapshot name");
        if (vol.Status is not ("available" or "in-use"))
            throw CinderError.BadRequest($"Invalid volume: Volume {vol.Id} status must be available or in-use, but current status is: {vol.Status}.");

        using (await _locks.AcquireAsync(vol.Name, ct))
        {
            var snap = await volumes.GetSnapshotAsync(vol.Name, snapName, ct) ?? throw Invalid($"snapshot {vol.Name}@{snapName} does not exist");
            var rec = store.ListSnapshots(vol.Id).FirstOrDefault(r => r.Name == snapName);
            if (rec is not null && rec.Module == Cinder.Module && !VolumeAttrs.Flag(rec.Attributes, "internal"))
                throw CinderError.BadRequest($"Unable to manage existing snapshot. Snapshot {refText} already managed.");
            var reason = UnsafeSnapshot(snap, vol, rec, ExportedSnapshots());
            if (reason is not null) throw Invalid(reason);
            var size = Gigabytes(snap.Size);
            using var quota = await workflows.QuotaLockAsync(vol.Project, ct);
            workflows.CheckQuota(vol.Project, volumes: 0, snapshots: 1, gigabytes: size);
            var now = DateTimeOffset.UtcNow;
            var attrs = new JsonObject
            {
                ["name"] = req.Name, ["description"] = req.Description, ["user_id"] = c.Caller.UserId, ["project_id"] = vol.Project,
                ["metadata"] = req.Metadata.DeepClone(),
            };
            var record = new SnapshotRecord(Guid.NewGuid(), vol.Id, snap.Name, "available", snap.Size, now, now, attrs, Cinder.Module);
            await store.WriteAsync(w =>
            {
                if (rec is not null) w.DeleteSnapshot(rec.Id);
                w.Put(record);
            }, ct);
            Log.SnapshotManaged(log, vol.Name + "@" + snap.Name, record.Id, vol.Project);
            return record;
        }
    }

    /// <summary>Gives a snapshot back to the admin module (Cinder's rules: available or error, nothing made from it).</summary>
    public async Task UnmanageSnapshotAsync(CinderRequest c, SnapshotRecord s, CancellationToken ct)
    {
        c.RequireAdmin();
        if (s.Status is not ("available" or "error"))
            throw CinderError.BadRequest($"Invalid snapshot: Snapshot status must be available or error to unmanage, but is {s.Status}.");
        var vol = store.GetVolume(s.VolumeId) ?? throw CinderError.NotFound($"Volume {s.VolumeId} could not be found.");
        using (await _locks.AcquireAsync(vol.Name, ct))
        {
            var snap = await volumes.GetSnapshotAsync(vol.Name, s.Name, ct)
                ?? throw CinderError.BadRequest($"Invalid snapshot: Snapshot {s.Id} has no data in the engine (its status is {s.Status}); delete it instead.");
            if (snap.Clones.Count > 0)
                throw CinderError.BadRequest($"Invalid snapshot: Snapshot {s.Id} has volumes created from it; delete those first.");
            var now = DateTimeOffset.UtcNow;
            // The admin module's record as the core makes it: the engine's id, on the same volume record.
            var admin = new SnapshotRecord(snap.Id, vol.Id, snap.Name, "available", snap.Size, now, now, Module: Modules.Admin);
            await store.WriteAsync(w =>
            {
                w.DeleteSnapshot(s.Id);
                w.Put(admin);
            }, ct);
            Log.SnapshotUnmanaged(log, vol.Name + "@" + snap.Name, s.Id);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3123, Level = LogLevel.Information, Message = "block storage: engine snapshot {Snapshot} managed as snapshot {Id} of project {Project}")]
        public static partial void SnapshotManaged(ILogger logger, string snapshot, Guid id, string project);

        [LoggerMessage(EventId = 3124, Level = LogLevel.Information, Message = "block storage: snapshot {Id} unmanaged; engine snapshot {Snapshot} is an admin snapshot again")]
        public static partial void SnapshotUnmanaged(ILogger logger, string snapshot, Guid id);
    }
}
