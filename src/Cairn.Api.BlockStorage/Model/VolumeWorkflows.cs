using Cairn.Api.BlockStorage.Http;
using Cairn.Core.Pools;
using Cairn.Core.Services;
using Cairn.Core.Storage;

namespace Cairn.Api.BlockStorage.Model;

/// <summary>What a volume create asks for, already parsed.</summary>
public sealed record VolumeCreate(int? Size, string? Name, string? Description, string? Type, string? Zone, JsonObject Metadata,
    Guid? SnapshotId, Guid? SourceVolumeId, bool Multiattach);

/// <summary>
/// The Block Storage workflows: every change to Cinder volumes and snapshots, with Cinder's status rules and quotas,
/// through <see cref="VolumeService"/> (the only writer of the engine and of volume records). Each change is durable
/// before it is answered: a record first in a transitional status (<c>creating</c>, <c>deleting</c>), then the engine
/// op, then the final record; a crash in between is finished by <see cref="RecoverAsync"/> at start.
/// <para>
/// Dependencies are handled by deferred deletion: a Cinder volume or snapshot that the engine cannot destroy yet
/// (clones depend on it) disappears from the API at once (its record turns <see cref="Cinder.Deleted"/>) and its
/// engine object is destroyed when its last dependent goes, up the chain.
/// </para>
/// </summary>
public sealed partial class VolumeWorkflows(VolumeService volumes, PoolRouter pools, IStateStore store, CinderCatalog catalog,
    BlockStorageOptions options, ILogger<VolumeWorkflows> log)
{
    // The module's own lock (KeyedLock is striped: sharing VolumeService's instance could deadlock on a shared stripe).
    private readonly KeyedLock _locks = new();

    public static readonly string[] DeletableStatuses = ["available", "error", "error_restoring", "error_extending", "error_managing"];

    // ---------------------------------------------------------------- reads

    public VolumeRecord? Get(Guid id) => store.GetVolume(id) is { } r && r.IsVisible() ? r : null;

    /// <summary>A volume the caller may see (its project's, or any for an admin), else 404 as Cinder answers.</summary>
    public VolumeRecord Require(CinderRequest c, Guid id) =>
        Get(id) is { } r && (c.IsAdmin || r.Project == c.Project) ? r : throw CinderError.NotFound($"Volume {id} could not be found.");

    /// <summary>A new Cinder volume's attributes (create and manage alike).</summary>
    public static JsonObject NewAttributes(CinderRequest c, string? name, string? description, VolumeType type, string zone,
        Guid? snapshotId, Guid? sourceId, bool bootable, JsonObject metadata) => new()
    {
        ["name"] = name,
        ["description"] = description,
        ["user_id"] = c.Caller.UserId,
        ["volume_type_id"] = type.Id,
        ["availability_zone"] = zone,
        ["snapshot_id"] = snapshotId?.ToString("D"),
        ["source_volid"] = sourceId?.ToString("D"),
        ["bootable"] = bootable,
        ["readonly"] = false,
        ["multiattach"] = type.Multiattach,
        ["encrypted"] = type.Encryption is not null,
        ["metadata"] = metadata.DeepClone(),
    };

    /// <summary>
    /// The project's (or, for null, every project's) Cinder volumes, sorted by name as the store lists them. Read once
    /// per store commit: paging through 10,000 volumes reads and parses them once, not once per page. The records are
    /// shared and never changed in place (changes make new records, <see cref="VolumeAttrs.With"/>).
    /// </summary>
    public IReadOnlyList<VolumeRecord> List(string? project)
    {
        var commits = store.Commits;
        var key = project ?? "";
        if (_lists.TryGetValue(key, out var cached) && cached.Commits == commits) return cached.Items;
        IReadOnlyList<VolumeRecord> items = [.. store.ListVolumes(project).Where(r => r.IsVisible())];
        // Stale entries of other projects are dropped as they are met, so the cache holds at most one copy of each
        // project's list; one of all projects (admin all_tenants) is kept only while nothing changes.
        if (_lists.Count > 64) foreach (var (k, v) in _lists) if (v.Commits != commits) _lists.TryRemove(k, out _);
        _lists[key] = new CachedList(commits, items);
        return items;
    }

    private sealed record CachedList(long Commits, IReadOnlyList<VolumeRecord> Items);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, CachedList> _lists = new(StringComparer.Ordinal);

    public SnapshotRecord? GetSnapshot(Guid id) => store.GetSnapshot(id) is { } s && s.IsVisible() ? s : null;

    public SnapshotRecord RequireSnapshot(CinderRequest c, Guid id) =>
        GetSnapshot(id) is { } s && (c.IsAdmin || s.ProjectOf() == c.Project) ? s : throw CinderError.NotFound($"Snapshot {id} could not be found.");

    public IReadOnlyList<SnapshotRecord> Snapshots(Guid volumeId) => [.. store.ListSnapshots(volumeId).Where(s => s.IsVisible())];

    public IReadOnlyList<SnapshotRecord> ListSnapshots(string? project) =>
        [.. store.ListSnapshots().Where(s => s.IsVisible() && (project is null || s.ProjectOf() == project))];

    /// <summary>What a project uses of its quota.</summary>
    public (int Volumes, int Snapshots, int Gigabytes) Usage(string project)
    {
        var vols = List(project);
        var snaps = ListSnapshots(project);
        return (vols.Count, snaps.Count, vols.Sum(v => v.Gigabytes()) + snaps.Sum(s => s.Gigabytes()));
    }

    // ---------------------------------------------------------------- create

    public async Task<VolumeRecord> CreateAsync(CinderRequest c, VolumeCreate req, CancellationToken ct)
    {
        c.RequireWrite();
        SnapshotRecord? snap = req.SnapshotId is { } sid ? RequireSnapshot(c, sid) : null;
        VolumeRecord? source = req.SourceVolumeId is { } vid ? RequireSourceVolume(c, vid) : null;
        if (snap is not null && source is not null) throw CinderError.BadRequest("Invalid input received: snapshot_id and source_volid cannot be given together.");
        if (snap is not null && snap.Status != "available")
            throw CinderError.BadRequest($"Invalid snapshot: Originating snapshot status must be one of 'available' values, but is '{snap.Status}'.");
        if (source is not null && source.Status is not ("available" or "in-use"))
            throw CinderError.BadRequest($"Invalid volume: Unable to create a volume from an originating source volume when its status is not one of 'available', 'in-use', but is '{source.Status}'.");
        var minimum = snap?.Gigabytes() ?? source?.Gigabytes() ?? 1;
        var size = req.Size ?? (snap is not null || source is not null ? minimum : throw CinderError.BadRequest("Invalid input received: size is required"));
        if (size < minimum)
            throw CinderError.BadRequest(snap is not null
                ? $"Invalid input received: Volume size '{size}'GB cannot be smaller than the snapshot size {minimum}GB. They must be >= original snapshot size."
                : $"Invalid input received: Volume size '{size}'GB cannot be smaller than original volume size  {minimum}GB. They must be >= original volume size.");
        var type = req.Type is null
            ? (source is not null ? catalog.Get(source.Str("volume_type_id") ?? "") : snap is not null ? catalog.Get(store.GetVolume(snap.VolumeId)?.Str("volume_type_id") ?? "") : null) ?? catalog.Default()
            : catalog.Find(req.Type) is { } found && found.VisibleTo(c.IsAdmin, c.Project) ? found
            : throw CinderError.NotFound($"Volume type with name {req.Type} could not be found.");
        var zone = req.Zone ?? options.AvailabilityZone;
        if (zone != options.AvailabilityZone) throw CinderError.BadRequest($"Invalid input received: Availability zone '{zone}' is invalid.");
        if (req.Multiattach && !type.Multiattach)
            throw CinderError.BadRequest("Invalid input received: multiattach is not allowed unless the volume type's extra spec multiattach is '<is> True'.");
        // Cairn's engine does not encrypt at rest: a back-end encrypted type would be a promise nobody keeps. A
        // front-end one is the compute host's job (os-brick); the volume says encrypted so nobody attaches it as plain.
        if (type.Encryption is { ControlLocation: EncryptionSpec.BackEnd })
            throw CinderError.BadRequest($"Invalid volume type: volume type {type.Id} asks for back-end encryption, which Cairn's storage does not do; use control_location front-end.");
        RequirePool();

        var id = Guid.NewGuid();
        var now = DateTimeOffset.UtcNow;
        var attrs = NewAttributes(c, req.Name, req.Description, type, zone, snap?.Id, source?.Id, source?.Flag("bootable") ?? false, req.Metadata);
        var record = new VolumeRecord(id, c.Project, Cinder.DatasetOf(options.Pool, id), "creating", (long)size * Cinder.GiB, now, now, attrs, Cinder.Module);
        // The quota check and the creating record in one step per project, so that concurrent creates cannot both pass;
        // under limits that need no usage (unlimited, or only per_volume_gigabytes) creates neither scan the project
        // nor queue behind each other's commits.
        if (NeedsUsage(catalog.Quota(c.Project), volumes: 1, snapshots: 0, gigabytes: size))
        {
            using (await _locks.AcquireAsync("quota:" + c.Project, ct))
            {
                CheckQuota(c.Project, volumes: 1, snapshots: 0, gigabytes: size);
                await store.WriteAsync(w => w.Put(record), ct);
            }
        }
        else
        {
            CheckQuota(c.Project, volumes: 1, snapshots: 0, gigabytes: size);
            await store.WriteAsync(w => w.Put(record), ct);
        }
        return await MakeAsync(record, snap, source, ct);
    }

    private VolumeRecord RequireSourceVolume(CinderRequest c, Guid id) =>
        Get(id) is { } r && (c.IsAdmin || r.Project == c.Project) ? r : throw CinderError.NotFound($"Source volume {id} could not be found.");

    private void RequirePool()
    {
        if (!pools.Has(options.Pool))
            throw new CinderError(503, $"The block storage pool '{options.Pool}' does not exist; create it (cairn pool create {options.Pool}) or set BlockStoragePool.");
    }

    /// <summary>The engine part of a create (also run again by recovery): the volume, a clone of the snapshot, or a clone of the source volume through an internal snapshot.</summary>
    private async Task<VolumeRecord> MakeAsync(VolumeRecord record, SnapshotRecord? snap, VolumeRecord? source, CancellationToken ct)
    {
        var owner = Cinder.OwnerOf(record.Project);
        VolumeRecord Done(DatasetInfo d) => record with { Status = "available", Updated = DateTimeOffset.UtcNow };
        try
        {
            if (snap is null && source is null)
            {
                await volumes.CreateVolumeAsync(record.Name, record.Size, parents: false, owner, recordFor: Done, ct: ct);
                return store.GetVolume(record.Id) ?? record;
            }
            string originDataset, originSnapshot;
            if (snap is not null)
            {
                originDataset = store.GetVolume(snap.VolumeId)?.Name ?? throw CinderError.NotFound($"Snapshot {snap.Id} could not be found.");
                originSnapshot = snap.Name;
            }
            else
            {
                // A volume from a volume: an internal snapshot of the source (hidden from the API) that the clone hangs on.
                originDataset = source!.Name;
                originSnapshot = "clone-" + record.Id.ToString("D");
                var internalId = Guid.NewGuid();
                if (await volumes.GetSnapshotAsync(originDataset, originSnapshot, ct) is null)
                {
                    await volumes.CreateSnapshotAsync(originDataset, originSnapshot, owner, ct: ct, recordFor: (s, v) => new SnapshotRecord(internalId, v.Id, s.Name, "available", s.Size,
                        DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, new JsonObject { ["internal"] = true, ["project_id"] = record.Project }, Cinder.Module));
                }
            }
            var origin = await volumes.GetSnapshotAsync(originDataset, originSnapshot, ct) ?? throw CinderError.NotFound($"Snapshot {originDataset}@{originSnapshot} could not be found.");
            if (await volumes.GetDatasetAsync(record.Name, ct) is null)
                await volumes.CloneAsync(originDataset, originSnapshot, record.Name, parents: false, owner, recordFor: d => record with { Size = d.Size }, ct: ct);
            if (record.Size > origin.Size) await volumes.ResizeAsync(record.Name, record.Size, owner, ct);
            var made = store.GetVolume(record.Id) ?? record;
            var final = made with { Status = "available", Size = record.Size, Updated = DateTimeOffset.UtcNow };
            await store.WriteAsync(w => w.Put(final), ct);
            return final;
        }
        catch (CairnException e)
        {
            Log.CreateFailed(log, record.Id, e.Message);
            var failed = (store.GetVolume(record.Id) ?? record) with { Status = "error", Updated = DateTimeOffset.UtcNow };
            await store.WriteAsync(w => w.Put(failed), CancellationToken.None);
            return failed;
        }
    }

    /// <summary>The lock a quota check and the write it allows hold together (one per project).</summary>
    public ValueTask<KeyedLock.Releaser> QuotaLockAsync(string project, CancellationToken ct) => _locks.AcquireAsync("quota:" + project, ct);

    /// <summary>Refuses a change that would take a project over its limits (413, Cinder's messages).</summary>
    public void CheckQuota(string project, int volumes, int snapshots, int gigabytes)
    {
        var q = catalog.Quota(project);
        // The project's usage (a scan of its volumes and snapshots) only when a limit it counts against applies.
        var used = NeedsUsage(q, volumes, snapshots, gigabytes) ? Usage(project) : default;
        if (volumes > 0 && q[QuotaResources.Volumes] >= 0 && used.Volumes + volumes > q[QuotaResources.Volumes])
            throw CinderError.OverLimit($"VolumeLimitExceeded: Maximum number of volumes allowed ({q[QuotaResources.Volumes]}) exceeded for quota 'volumes'.");
        if (snapshots > 0 && q[QuotaResources.Snapshots] >= 0 && used.Snapshots + snapshots > q[QuotaResources.Snapshots])
            throw CinderError.OverLimit($"SnapshotLimitExceeded: Maximum number of snapshots allowed ({q[QuotaResources.Snapshots]}) exceeded for quota 'snapshots'.");
        if (gigabytes > 0 && q[QuotaResources.Gigabytes] >= 0 && used.Gigabytes + gigabytes > q[QuotaResources.Gigabytes])
            throw CinderError.OverLimit($"VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. Requested {gigabytes}G, quota is {q[QuotaResources.Gigabytes]}G and {used.Gigabytes}G has been consumed.");
        if (gigabytes > 0 && q["per_volume_gigabytes"] >= 0 && gigabytes > q["per_volume_gigabytes"] && volumes > 0)
            throw CinderError.OverLimit($"VolumeSizeExceedsLimit: Requested volume size {gigabytes}G is larger than maximum allowed limit {q["per_volume_gigabytes"]}G.");
    }

    /// <summary>Whether a change of these amounts counts against a limit of <paramref name="q"/> that needs the project's usage.</summary>
    private static bool NeedsUsage(IReadOnlyDictionary<string, int> q, int volumes, int snapshots, int gigabytes) =>
        (volumes > 0 && q[QuotaResources.Volumes] >= 0) || (snapshots > 0 && q[QuotaResources.Snapshots] >= 0) ||
        (gigabytes > 0 && q[QuotaResources.Gigabytes] >= 0);

    // ---------------------------------------------------------------- update, metadata, flags

    /// <summary>Writes a changed record (durable: Cinder's attributes live only here).</summary>
    public async Task<VolumeRecord> PutAsync(VolumeRecord r, Func<VolumeRecord, VolumeRecord> change, CancellationToken ct)
    {
        using (await _locks.AcquireAsync(r.Id.ToString(), ct))
        {
            var current = store.GetVolume(r.Id) ?? throw CinderError.NotFound($"Volume {r.Id} could not be found.");
            var upd = change(current) with { Updated = DateTimeOffset.UtcNow };
            await store.WriteAsync(w => w.Put(upd), ct);
            return upd;
        }
    }

    public Task<VolumeRecord> SetAttributesAsync(VolumeRecord r, Action<JsonObject> change, CancellationToken ct) =>
        PutAsync(r, cur => cur with { Attributes = VolumeAttrs.With(cur.Attributes, change) }, ct);

    public async Task<SnapshotRecord> PutSnapshotAsync(SnapshotRecord s, Func<SnapshotRecord, SnapshotRecord> change, CancellationToken ct)
    {
        using (await _locks.AcquireAsync(s.Id.ToString(), ct))
        {
            var current = store.GetSnapshot(s.Id) ?? throw CinderError.NotFound($"Snapshot {s.Id} could not be found.");
            var upd = change(current) with { Updated = DateTimeOffset.UtcNow };
            await store.WriteAsync(w => w.Put(upd), ct);
            return upd;
        }
    }

    // ---------------------------------------------------------------- extend

    public async Task ExtendAsync(CinderRequest c, VolumeRecord v, int newSize, CancellationToken ct)
    {
        c.RequireWrite();
        var online = v.Status == "in-use" && c.AtLeast(42);
        if (v.Status != "available" && !online)
            throw CinderError.BadRequest($"Invalid volume: Volume {v.Id} status must be '{(c.AtLeast(42) ? "available' or 'in-use" : "available")}' to extend, currently {v.Status}.");
        if (newSize <= v.Gigabytes())
            throw CinderError.BadRequest($"Invalid input received: New size for extend must be greater than current size. (current: {v.Gigabytes()}, extended: {newSize}).");
        using (await _locks.AcquireAsync("quota:" + v.Project, ct))
            CheckQuota(v.Project, 0, 0, newSize - v.Gigabytes());
        using (await _locks.AcquireAsync(v.Id.ToString(), ct))
            await volumes.ResizeAsync(v.Name, (long)newSize * Cinder.GiB, Cinder.OwnerOf(v.Project), ct);
    }

    // ---------------------------------------------------------------- snapshots

    public async Task<SnapshotRecord> CreateSnapshotAsync(CinderRequest c, VolumeRecord v, string? name, string? description, bool force, JsonObject metadata, CancellationToken ct)
    {
        c.RequireWrite();
        if (v.Status != "available" && !(force && v.Status == "in-use"))
            throw CinderError.BadRequest(v.Status == "in-use"
                ? $"Invalid volume: Volume {v.Id} status must be available, but current status is: in-use. (force is needed to snapshot a volume in use)"
                : $"Invalid volume: Volume {v.Id} status must be available, but current status is: {v.Status}.");
        var id = Guid.NewGuid();
        var now = DateTimeOffset.UtcNow;
        var attrs = new JsonObject
        {
            ["name"] = name, ["description"] = description, ["user_id"] = c.Caller.UserId, ["project_id"] = v.Project, ["metadata"] = metadata.DeepClone(),
        };
        var record = new SnapshotRecord(id, v.Id, Cinder.SnapshotNameOf(id), "creating", v.Size, now, now, attrs, Cinder.Module);
        using (await _locks.AcquireAsync("quota:" + v.Project, ct))
        {
            CheckQuota(v.Project, 0, 1, v.Gigabytes());
            await store.WriteAsync(w => w.Put(record), ct);
        }
        try
        {
            await volumes.CreateSnapshotAsync(v.Name, record.Name, Cinder.OwnerOf(v.Project), ct: ct,
                recordFor: (s, _) => record with { Status = "available", Size = s.Size, Updated = DateTimeOffset.UtcNow });
        }
        catch (CairnException e)
        {
            Log.CreateFailed(log, id, e.Message);
            await store.WriteAsync(w => w.Put(record with { Status = "error", Updated = DateTimeOffset.UtcNow }), CancellationToken.None);
        }
        return store.GetSnapshot(id) ?? record;
    }

    /// <summary>Deletes a snapshot (Cinder's rules: available or error, unless forced by an admin).</summary>
    public async Task DeleteSnapshotAsync(CinderRequest c, SnapshotRecord s, bool force, CancellationToken ct)
    {
        c.RequireWrite();
        if (!force && s.Status is not ("available" or "error" or "error_deleting"))
            throw CinderError.BadRequest($"Invalid snapshot: Volume Snapshot status must be available or error or error_deleting, but is {s.Status}.");
        var deleting = await PutSnapshotAsync(s, r => r with { Status = "deleting" }, ct);
        await ReleaseSnapshotAsync(deleting, ct);
    }

    /// <summary>Destroys a snapshot's engine snapshot unless clones hang on it (then its record waits, hidden), and collects its volume if that waits too.</summary>
    private async Task ReleaseSnapshotAsync(SnapshotRecord s, CancellationToken ct)
    {
        var vol = store.GetVolume(s.VolumeId);
        if (vol is null)
        {
            await store.WriteAsync(w => w.DeleteSnapshot(s.Id), ct);
            return;
        }
        var engineSnap = await volumes.GetSnapshotAsync(vol.Name, s.Name, ct);
        if (engineSnap is null)
            await store.WriteAsync(w => w.DeleteSnapshot(s.Id), ct);
        else if (engineSnap.Clones.Count > 0)
            await store.WriteAsync(w => w.Put(s with { Status = Cinder.Deleted, Updated = DateTimeOffset.UtcNow }), ct);
        else
            await volumes.DestroySnapshotAsync(vol.Name, s.Name, Cinder.OwnerOf(vol.Project), ct: ct, records: w => w.DeleteSnapshot(s.Id));
        if (store.GetVolume(vol.Id) is { Status: Cinder.Deleted } waiting) await ReleaseVolumeAsync(waiting, ct);
    }

    // ---------------------------------------------------------------- delete

    public async Task DeleteAsync(CinderRequest c, VolumeRecord v, bool cascade, bool force, CancellationToken ct)
    {
        c.RequireWrite();
        if (!force && !DeletableStatuses.Contains(v.Status))
            throw CinderError.BadRequest($"Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer.");
        if (!force && HasAttachments(v))
            throw CinderError.BadRequest("Invalid volume: Volume must not be attached to be deleted.");
        var snaps = Snapshots(v.Id);
        if (snaps.Count > 0 && !cascade)
            throw CinderError.BadRequest($"Invalid volume: Volume {v.Id} has snapshots; delete them first or use cascade.");
        // Snapshots the admin owns (a managed volume's, or unmanaged ones) are not Block Storage's to destroy.
        if (store.ListSnapshots(v.Id).FirstOrDefault(s => s.Module != Cinder.Module) is { } foreign)
            throw CinderError.BadRequest($"Invalid volume: Volume {v.Id} has snapshot {foreign.Name} that Block Storage does not manage; manage it (os-snapshot-manage) or destroy it with the admin API first.");
        if (cascade && snaps.FirstOrDefault(s => s.Status is not ("available" or "error")) is { } busy)
            throw CinderError.BadRequest($"Invalid volume: Snapshot {busy.Id} of volume {v.Id} is {busy.Status}; cascade deletes only snapshots that are available or in error.");
        var deleting = await PutAsync(v, r => r with { Status = "deleting" }, ct);
        foreach (var s in snaps)
        {
            var ds = await PutSnapshotAsync(s, r => r with { Status = "deleting" }, ct);
            await ReleaseSnapshotAsync(ds, ct);
        }
        await ReleaseVolumeAsync(store.GetVolume(deleting.Id) ?? deleting, ct);
    }

    /// <summary>Attachments of a volume, as the attach workflows keep them (module documents).</summary>
    private bool HasAttached(VolumeRecord v) =>
        store.ListDocuments(Cinder.Module, Cinder.KindAttachment, v.Project)
            .Any(d => VolumeAttrs.Str(d.Body, "volume_id") == v.Id.ToString("D") && VolumeAttrs.Str(d.Body, "attach_status") == "attached");

    public bool HasAttachments(VolumeRecord v) =>
        store.ListDocuments(Cinder.Module, Cinder.KindAttachment, v.Project).Any(d => VolumeAttrs.Str(d.Body, "volume_id") == v.Id.ToString("D"));

    /// <summary>
    /// Destroys a deleted volume's engine dataset, or leaves it waiting (record <see cref="Cinder.Deleted"/>) while clones
    /// depend on its snapshots. Its internal and deleted snapshots without clones go first. Once it is gone, the snapshot
    /// it was cloned from is collected if that waits too, and so on up the chain.
    /// </summary>
    private async Task ReleaseVolumeAsync(VolumeRecord v, CancellationToken ct)
    {
        while (true)
        {
            string? origin;
            using (await _locks.AcquireAsync(v.Id.ToString(), ct))
            {
                var ds = await volumes.GetDatasetAsync(v.Name, ct);
                if (ds is null)
                {
                    await store.WriteAsync(w => { w.DeleteVolume(v.Id); foreach (var s in store.ListSnapshots(v.Id)) w.DeleteSnapshot(s.Id); }, ct);
                    return;
                }
                origin = ds.Origin;
                var records = store.ListSnapshots(v.Id).ToDictionary(s => s.Name, StringComparer.Ordinal);
                var waiting = false;
                foreach (var snap in await volumes.ListSnapshotsAsync(v.Name, ct))
                {
                    if (snap.Clones.Count > 0)
                    {
                        waiting = true;
                        if (records.TryGetValue(snap.Name, out var sr) && sr.Status != Cinder.Deleted && !VolumeAttrs.Flag(sr.Attributes, "internal"))
                            await store.WriteAsync(w => w.Put(sr with { Status = Cinder.Deleted }), ct);
                        continue;
                    }
                    var rec = records.GetValueOrDefault(snap.Name);
                    await volumes.DestroySnapshotAsync(v.Name, snap.Name, Cinder.OwnerOf(v.Project), ct: ct, records: w => { if (rec is not null) w.DeleteSnapshot(rec.Id); });
                }
                if (waiting)
                {
                    await store.WriteAsync(w => w.Put(v with { Status = Cinder.Deleted, Updated = DateTimeOffset.UtcNow }), ct);
                    Log.Deferred(log, v.Id);
                    return;
                }
                await volumes.DestroyAsync(v.Name, recursive: false, Cinder.OwnerOf(v.Project), ct: ct, records: w =>
                {
                    w.DeleteVolume(v.Id);
                    foreach (var s in records.Values) w.DeleteSnapshot(s.Id);
                });
            }
            // Up the chain: the snapshot this volume was cloned from may have been waiting for it.
            if (origin is null) return;
            var at = origin.IndexOf('@', StringComparison.Ordinal);
            var parent = store.FindVolume(origin[..at]);
            if (parent is null || parent.Module != Cinder.Module) return;
            var parentSnap = store.ListSnapshots(parent.Id).FirstOrDefault(s => s.Name == origin[(at + 1)..]);
            if (parentSnap is not null && (parentSnap.Status == Cinder.Deleted || VolumeAttrs.Flag(parentSnap.Attributes, "internal"))
                && await volumes.GetSnapshotAsync(parent.Name, parentSnap.Name, ct) is { Clones.Count: 0 })
            {
                await volumes.DestroySnapshotAsync(parent.Name, parentSnap.Name, Cinder.OwnerOf(parent.Project), ct: ct, records: w => w.DeleteSnapshot(parentSnap.Id));
                Log.Collected(log, parentSnap.Id);
            }
            if (store.GetVolume(parent.Id) is not { Status: Cinder.Deleted } next) return;
            v = next;
        }
    }

    // ---------------------------------------------------------------- recovery

    /// <summary>
    /// After the core's reconcile at start: finishes what a crash interrupted. A volume <c>creating</c> whose dataset
    /// exists becomes <c>available</c> (else the reconciler made it <c>error</c>); a volume or snapshot <c>deleting</c>
    /// is deleted again; <c>attaching</c>/<c>detaching</c> go back to what the attachments say.
    /// </summary>
    public async Task<int> RecoverAsync(CancellationToken ct)
    {
        if (!pools.Has(options.Pool)) return 0;
        int n = 0;
        foreach (var v in store.ListVolumes().Where(v => v.Module == Cinder.Module))
        {
            switch (v.Status)
            {
                case "creating":
                    var ds = await volumes.GetDatasetAsync(v.Name, ct);
                    await store.WriteAsync(w => w.Put(v with { Status = ds is null ? "error" : "available", Size = ds?.Size ?? v.Size, Updated = DateTimeOffset.UtcNow }), ct);
                    n++;
                    break;
                case "deleting" or Cinder.Deleted:
                    // An import's new dataset is its job's to keep or drop (BackupWorkflows.RecoverAsync collects those of finished jobs).
                    if (VolumeAttrs.Str(v.Attributes, Backups.ImportJobAttr) is not null) break;
                    await ReleaseVolumeAsync(v, ct);
                    n++;
                    break;
                case "attaching" or "detaching" or "reserved":
                    // in-use only when an attachment completed (attach_status attached); one still attaching or reserved
                    // stays as a document the client can finish or delete, on an available volume (a connected but
                    // never attached volume used to come back in-use and stay so after terminate_connection).
                    await store.WriteAsync(w => w.Put(v with { Status = HasAttached(v) ? "in-use" : "available", Updated = DateTimeOffset.UtcNow }), ct);
                    n++;
                    break;
            }
        }
        foreach (var s in store.ListSnapshots().Where(s => s.Module == Cinder.Module))
        {
            if (s.Status == "creating")
            {
                var vol = store.GetVolume(s.VolumeId);
                var exists = vol is not null && await volumes.GetSnapshotAsync(vol.Name, s.Name, ct) is not null;
                await store.WriteAsync(w => w.Put(s with { Status = exists ? "available" : "error", Updated = DateTimeOffset.UtcNow }), ct);
                n++;
            }
            else if (s.Status == "deleting")
            {
                await ReleaseSnapshotAsync(s, ct);
                n++;
            }
        }
        if (n > 0) Log.Recovered(log, n);
        return n;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3101, Level = LogLevel.Warning, Message = "block storage: creating {Id} failed: {Reason}")]
        public static partial void CreateFailed(ILogger logger, Guid id, string reason);

        [LoggerMessage(EventId = 3102, Level = LogLevel.Information, Message = "block storage: volume {Id} is deleted; its dataset waits for the clones made from its snapshots")]
        public static partial void Deferred(ILogger logger, Guid id);

        [LoggerMessage(EventId = 3103, Level = LogLevel.Information, Message = "block storage: snapshot {Id}, deleted earlier, was destroyed with its last clone")]
        public static partial void Collected(ILogger logger, Guid id);

        [LoggerMessage(EventId = 3104, Level = LogLevel.Information, Message = "block storage: finished {Count} changes a restart interrupted")]
        public static partial void Recovered(ILogger logger, int count);
    }
}

/// <summary>
/// What a missing dataset means for Block Storage records (the core's reconcile at start): a volume being deleted is
/// gone (its record goes); any other volume — also one still <c>creating</c>, whose dataset was never made — stays,
/// in <c>error</c>, so that its owner sees it and can delete it; a snapshot likewise.
/// </summary>
public sealed class BlockStorageRecordReconciler : IRecordReconciler
{
    public string Module => Cinder.Module;

    public void Missing(IReadOnlyList<VolumeRecord> volumes, IReadOnlyList<SnapshotRecord> snapshots, IStateWriter w)
    {
        var now = DateTimeOffset.UtcNow;
        foreach (var v in volumes)
        {
            if (v.Status is "deleting" or Cinder.Deleted) w.DeleteVolume(v.Id);
            else if (v.Status != "error") w.Put(v with { Status = "error", Updated = now });
        }
        foreach (var s in snapshots)
        {
            if (s.Status is "deleting" or Cinder.Deleted || VolumeAttrs.Flag(s.Attributes, "internal")) w.DeleteSnapshot(s.Id);
            else if (s.Status != "error") w.Put(s with { Status = "error", Updated = now });
        }
    }
}
