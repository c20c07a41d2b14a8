using Cairn.Archive;
using Cairn.Api.BlockStorage.Http;
using Cairn.Core.Jobs;
using Cairn.Core.Services;

namespace Cairn.Api.BlockStorage.Model;

/// <summary>
/// The StarlingX export and import requests (<c>wrs-volume:os-volume_export</c>, <c>wrs-volume:os-volume_import</c>,
/// <c>wrs-snapshot:os-export_snapshot</c>): the original's preconditions, the transitional status and
/// <c>backup_status</c> written durably before the answer, then a durable job (<see cref="ExportJob"/>,
/// <see cref="ImportJob"/>) that does the work and settles the record. A job that cannot settle its record itself (it
/// was failed by the job engine after too many interrupted attempts, or cancelled before it ran) is settled here, from
/// <see cref="JobEngine.JobFinished"/> and at start, so no volume stays <c>exporting</c> or <c>importing</c>.
/// </summary>
public sealed partial class BackupWorkflows(VolumeWorkflows workflows, VolumeService volumes, IStateStore store, IServiceProvider services,
    CinderCatalog catalog, BlockStorageOptions options, ILogger<BackupWorkflows> log)
{
    // Resolved when first used: the job engine is built with the job handlers, which use this class.
    private JobEngine Jobs => services.GetRequiredService<JobEngine>();

    public string Directory => options.BackupDir;

    // The status before an export or import, for a restart that finds one never recorded as a job.
    private const string PriorAttr = "backup_prior_status";

    // ---------------------------------------------------------------- requests

    /// <summary>Volume export: <c>available</c> or (Cairn: through an internal point-in-time snapshot) <c>in-use</c>.</summary>
    public async Task<VolumeRecord> ExportVolumeAsync(CinderRequest c, VolumeRecord v, CancellationToken ct)
    {
        c.RequireWrite();
        if (v.Status == "exporting" && RunningJob(v.Attributes, Backups.VolumeExportJob) is not null) return v;
        if (v.Status is not ("available" or "in-use"))
            throw CinderError.BadRequest($"Invalid volume: Volume status must be available or in-use, but is {v.Status}.");
        var now = DateTimeOffset.UtcNow;
        var file = ArchiveNames.FileName(v.Id, now);
        RefuseExisting(file);
        BackupRequest req = null!;
        var marked = await workflows.PutAsync(v, r =>
        {
            if (r.Status is not ("available" or "in-use"))
                throw CinderError.BadRequest($"Invalid volume: Volume status must be available or in-use, but is {r.Status}.");
            req = new BackupRequest(r.Id, null, file, r.Status);
            return r with
            {
                Status = "exporting",
                Attributes = VolumeAttrs.With(r.Attributes, a => { a[Backups.StatusAttr] = Backups.Started("Export", now); a[Backups.JobAttr] = null; a[PriorAttr] = r.Status; }),
            };
        }, ct);
        return await SubmitAsync(Backups.VolumeExportJob, req, marked, ct);
    }

    /// <summary>Snapshot export: an <c>available</c> snapshot goes <c>exporting</c>; its volume's status never changes (its backup_status tracks the export).</summary>
    public async Task<SnapshotRecord> ExportSnapshotAsync(CinderRequest c, SnapshotRecord s, CancellationToken ct)
    {
        c.RequireWrite();
        if (s.Status == "exporting" && RunningJob(s.Attributes, Backups.SnapshotExportJob) is not null) return s;
        if (s.Status != "available")
            throw CinderError.BadRequest($"Invalid snapshot: Snapshot status must be available, but is {s.Status}.");
        var vol = store.GetVolume(s.VolumeId) ?? throw CinderError.NotFound($"Volume {s.VolumeId} could not be found.");
        var now = DateTimeOffset.UtcNow;
        // Named after the parent volume, as the original: the archive imports into the volume.
        var file = ArchiveNames.FileName(vol.Id, now);
        RefuseExisting(file);
        var req = new BackupRequest(vol.Id, s.Id, file, s.Status);
        var marked = await workflows.PutSnapshotAsync(s, r =>
        {
            if (r.Status != "available") throw CinderError.BadRequest($"Invalid snapshot: Snapshot status must be available, but is {r.Status}.");
            return r with { Status = "exporting", Attributes = VolumeAttrs.With(r.Attributes, a => { a[Backups.StatusAttr] = Backups.Started("Export", now); a[Backups.JobAttr] = null; }) };
        }, ct);
        await workflows.SetAttributesAsync(vol, a => a[Backups.StatusAttr] = Backups.Started("Snapshot export", now), ct);
        var job = await Jobs.SubmitAsync(Backups.SnapshotExportJob, req.ToJson(), [s.Id.ToString("D")], "pending", [vol.Id.ToString("D")], ct);
        Log.Submitted(log, job.Id, job.Type, vol.Id, file);
        return await workflows.PutSnapshotAsync(marked, r => r with { Attributes = VolumeAttrs.With(r.Attributes, a => a[Backups.JobAttr] = job.Id.ToString("D")) }, ct);
    }

    /// <summary>
    /// Volume import from <c>file_name</c> in the backup directory: 400 without it or for a name that is not a plain file
    /// name there (or a symlink, or not a regular file), 404 when it is not there, 400 unless the volume is
    /// <c>available</c> or <c>error</c>, has no snapshots and no attachments, and (unless <c>cross_volume</c>) the
    /// archive is named after this volume.
    /// </summary>
    public async Task<VolumeRecord> ImportAsync(CinderRequest c, VolumeRecord v, JsonObject? body, CancellationToken ct)
    {
        c.RequireWrite();
        if (v.Status == "importing" && RunningJob(v.Attributes, Backups.VolumeImportJob) is not null) return v;
        body ??= [];
        foreach (var (k, _) in body)
            if (k is not ("file_name" or "cross_volume" or "restore_metadata"))
                throw CinderError.BadRequest($"Invalid input for field/attribute wrs-volume:os-volume_import. Additional properties are not allowed ('{k}' was unexpected)");
        var file = CinderBody.Text(body, "file_name");
        if (string.IsNullOrEmpty(file)) throw CinderError.BadRequest("Invalid input received: file_name is required: the name of an archive in the backup directory.");
        var cross = CinderBody.Bool(body["cross_volume"], "cross_volume") ?? false;
        var restoreMeta = CinderBody.Bool(body["restore_metadata"], "restore_metadata") ?? false;
        try
        {
            // Opened (O_NOFOLLOW, regular files only) and closed: the job opens it again the same way.
            using var probe = BackupDirectory.OpenRead(options.BackupDir, file);
        }
        catch (ArchiveException e)
        {
            throw CinderError.BadRequest("Invalid input received: " + e.Message);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw CinderError.NotFound($"Backup file {file} could not be found in the backup directory.");
        }
        catch (IOException e)
        {
            throw CinderError.BadRequest($"Invalid input received: {file} cannot be opened: {e.Message}");
        }
        if (!cross)
        {
            if (!ArchiveNames.TryParse(file, out var of, out _))
                throw CinderError.BadRequest($"Invalid input received: file_name {file} is not named volume-<uuid>-YYYYmmdd-HHMMSS.tgz; set cross_volume to import it anyway.");
            if (of != v.Id)
                throw CinderError.BadRequest($"Invalid input received: {file} is an archive of volume {of}, not of volume {v.Id}; set cross_volume to import it into this volume.");
        }
        RequireImportable(v);
        var now = DateTimeOffset.UtcNow;
        BackupRequest req = null!;
        var marked = await workflows.PutAsync(v, r =>
        {
            RequireImportable(r);
            req = new BackupRequest(r.Id, null, file, r.Status, cross, restoreMeta);
            return r with
            {
                Status = "importing",
                Attributes = VolumeAttrs.With(r.Attributes, a => { a[Backups.StatusAttr] = Backups.Started("Import", now); a[Backups.JobAttr] = null; a[PriorAttr] = r.Status; }),
            };
        }, ct);
        return await SubmitAsync(Backups.VolumeImportJob, req, marked, ct);
    }

    private void RequireImportable(VolumeRecord v)
    {
        if (v.Status is not ("available" or "error"))
            throw CinderError.BadRequest($"Invalid volume: Volume status must be available or error, but is {v.Status}.");
        if (workflows.Snapshots(v.Id).Count > 0)
            throw CinderError.BadRequest($"Invalid volume: Volume {v.Id} has snapshots; an import would leave them describing other data. Delete them first.");
        if (workflows.HasAttachments(v))
            throw CinderError.BadRequest($"Invalid volume: Volume {v.Id} has attachments; detach it first.");
    }

    private void RefuseExisting(string file)
    {
        if (File.Exists(Path.Combine(options.BackupDir, file)))
            throw CinderError.BadRequest($"Invalid input received: the archive {file} exists already (one export per volume and second); try again.");
    }

    private async Task<VolumeRecord> SubmitAsync(string type, BackupRequest req, VolumeRecord marked, CancellationToken ct)
    {
        var job = await Jobs.SubmitAsync(type, req.ToJson(), [req.VolumeId.ToString("D")], "pending", [req.VolumeId.ToString("D")], ct);
        Log.Submitted(log, job.Id, type, req.VolumeId, req.FileName);
        // The job may have finished already: only the job id is added, whatever the status is now.
        return await workflows.SetAttributesAsync(marked, a => a[Backups.JobAttr] = job.Id.ToString("D"), ct);
    }

    /// <summary>The unfinished job of <paramref name="type"/> the attributes name, if any.</summary>
    private JobRecord? RunningJob(JsonObject? attrs, string type) =>
        VolumeAttrs.Str(attrs, Backups.JobAttr) is { } id && Guid.TryParse(id, out var g) && Jobs.Get(g) is { State: JobState.Pending or JobState.Running } j && j.Type == type ? j : null;

    // ---------------------------------------------------------------- settling (jobs, recovery)

    /// <summary>The meta JSON of an export: the original's <c>version: 1</c>, the volume's fields, metadata and attachments.</summary>
    public JsonObject MetaOf(VolumeRecord v, SnapshotRecord? s)
    {
        var type = catalog.Get(v.Str("volume_type_id") ?? "");
        var attachments = new JsonArray();
        foreach (var d in store.ListDocuments(Cinder.Module, Cinder.KindAttachment, v.Project))
        {
            if (VolumeAttrs.Str(d.Body, "volume_id") != v.Id.ToString("D") || VolumeAttrs.Str(d.Body, "attach_status") != "attached") continue;
            attachments.Add(new JsonObject
            {
                ["id"] = d.Key, ["instance_uuid"] = VolumeAttrs.Str(d.Body, "instance_uuid"), ["attached_host"] = VolumeAttrs.Str(d.Body, "attached_host"),
                ["mountpoint"] = VolumeAttrs.Str(d.Body, "mountpoint"), ["attach_status"] = "attached",
            });
        }
        var volume = new JsonObject
        {
            ["id"] = v.Id.ToString("D"),
            ["size"] = v.Gigabytes(),
            ["display_name"] = v.Str("name"),
            ["display_description"] = v.Str("description"),
            ["volume_type_id"] = type?.Id,
            ["volume_type"] = type?.Name,
            ["availability_zone"] = v.Str("availability_zone") ?? options.AvailabilityZone,
            ["bootable"] = v.Flag("bootable"),
            ["encrypted"] = v.Flag("encrypted"),
            ["multiattach"] = v.Flag("multiattach"),
            ["project_id"] = v.Project,
            ["user_id"] = v.Str("user_id"),
            ["created_at"] = Cinder.Time(v.Created),
            ["source_volid"] = v.Str("source_volid"),
            ["snapshot_id"] = s?.Id.ToString("D") ?? v.Str("snapshot_id"),
        };
        return new JsonObject
        {
            ["version"] = 1,
            ["volume"] = volume,
            ["metadata"] = VolumeAttrs.Metadata(v.Attributes).DeepClone(),
            ["attachments"] = attachments,
        };
    }

    /// <summary>An export ended: the volume (or snapshot) back to its status, <c>backup_status</c> completed or failed.</summary>
    public async Task SettleExportAsync(Guid job, BackupRequest req, string? failure, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        if (req.SnapshotId is { } sid)
        {
            // The volume's line first: a client that sees the snapshot available then finds the volume's line final too.
            if (store.GetVolume(req.VolumeId) is { } sv)
                await workflows.SetAttributesAsync(sv, a => a[Backups.StatusAttr] = failure is null ? Backups.Completed("Snapshot export", now) : Backups.Failed("Snapshot export", now, failure), ct);
            if (store.GetSnapshot(sid) is { } s)
                await workflows.PutSnapshotAsync(s, r => r with
                {
                    Status = r.Status == "exporting" && Owns(r.Attributes, job) ? "available" : r.Status,
                    Attributes = VolumeAttrs.With(r.Attributes, a => a[Backups.StatusAttr] = failure is null ? Backups.Completed("Export", now) : Backups.Failed("Export", now, failure)),
                }, ct);
            return;
        }
        if (store.GetVolume(req.VolumeId) is not { } v) return;
        await workflows.PutAsync(v, r => r with
        {
            // Back to what it was (available or in-use: attach and detach wait while it exports).
            Status = r.Status == "exporting" && Owns(r.Attributes, job) ? req.PriorStatus : r.Status,
            Attributes = VolumeAttrs.With(r.Attributes, a => a[Backups.StatusAttr] = failure is null ? Backups.Completed("Export", now) : Backups.Failed("Export", now, failure)),
        }, ct);
    }

    /// <summary>An import failed: the volume is as it was (the new dataset never replaced it), back to its prior status, with the reason.</summary>
    public async Task SettleImportFailedAsync(Guid job, BackupRequest req, string failure, CancellationToken ct)
    {
        await DropImportDatasetsAsync(job, ct);
        if (store.GetVolume(req.VolumeId) is not { } v) return;
        var now = DateTimeOffset.UtcNow;
        await workflows.PutAsync(v, r => r with
        {
            Status = r.Status == "importing" && Owns(r.Attributes, job) ? req.PriorStatus : r.Status,
            Attributes = VolumeAttrs.With(r.Attributes, a => a[Backups.StatusAttr] = Backups.Failed("Import", now, failure)),
        }, ct);
    }

    /// <summary>
    /// An import read and verified the whole archive into its new dataset: swap it in, the volume back to its prior
    /// status (<c>available</c>, or <c>available</c> again after <c>error</c>: it now holds good data), and, when asked,
    /// the archive's metadata in place of the volume's.
    /// </summary>
    public Task<VolumeRecord> SwapInAsync(Guid job, BackupRequest req, Guid holder, ArchiveReadResult result, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        return workflows.SwapDatasetAsync(req.VolumeId, holder, r => r with
        {
            Status = workflows.IsAttached(r) ? "in-use" : "available",
            Attributes = VolumeAttrs.With(r.Attributes, a =>
            {
                a[Backups.StatusAttr] = Backups.Completed("Import", now);
                a["import_digest"] = result.ImageDigest;
                a[Backups.ImportedByAttr] = job.ToString("D");
                if (req.RestoreMetadata) a["metadata"] = MetadataOf(result.Meta);
            }),
        }, ct);
    }

    /// <summary>The archive's metadata as Cinder keeps it (string values): an object, or the original's list of key/value pairs.</summary>
    public static JsonObject MetadataOf(JsonObject meta)
    {
        var o = new JsonObject();
        static string? Text(JsonNode? n) => n switch { null => null, JsonValue v when v.TryGetValue<string>(out var s) => s, _ => n.ToJsonString() };
        var source = meta["metadata"] ?? (meta["volume"] as JsonObject)?["metadata"] ?? (meta["volume"] as JsonObject)?["volume_metadata"];
        if (source is JsonObject obj)
        {
            foreach (var (k, v) in obj) o[k] = Text(v);
        }
        else if (source is JsonArray arr)
        {
            foreach (var e in arr.OfType<JsonObject>())
                if (Text(e["key"]) is { } k) o[k] = Text(e["value"]);
        }
        return o;
    }

    /// <summary>Destroys the new datasets an import job made (all its attempts); the volume's own dataset is never one of them.</summary>
    public async Task DropImportDatasetsAsync(Guid job, CancellationToken ct)
    {
        var id = job.ToString("D");
        foreach (var r in store.ListVolumes().Where(r => r.Module == Cinder.Module && r.Status == Cinder.Deleted && VolumeAttrs.Str(r.Attributes, Backups.ImportJobAttr) == id))
            await workflows.ReleaseAsync(r, ct);
    }

    /// <summary>Destroys a volume export's internal snapshot (and its record), if it is there.</summary>
    public async Task DropExportSnapshotAsync(Guid job, Guid volumeId, CancellationToken ct)
    {
        if (store.GetVolume(volumeId) is not { } v) return;
        var name = Backups.ExportSnapshotName(job);
        var rec = store.ListSnapshots(v.Id).FirstOrDefault(s => s.Name == name);
        if (await volumes.GetSnapshotAsync(v.Name, name, ct) is not null)
            await volumes.DestroySnapshotAsync(v.Name, name, Cinder.OwnerOf(v.Project), ct: ct, records: w => { if (rec is not null) w.DeleteSnapshot(rec.Id); });
        else if (rec is not null)
            await store.WriteAsync(w => w.DeleteSnapshot(rec.Id), ct);
    }

    private static bool Owns(JsonObject? attrs, Guid job) => VolumeAttrs.Str(attrs, Backups.JobAttr) is not { } id || id == job.ToString("D");

    /// <summary>Settles the record of a backup job that ended without its handler doing it (failed by the engine, cancelled before it ran).</summary>
    public async Task SettleFinishedAsync(JobRecord job, CancellationToken ct)
    {
        if (job.Type is not (Backups.VolumeExportJob or Backups.SnapshotExportJob or Backups.VolumeImportJob)) return;
        if (job.State == JobState.Succeeded) return;
        var req = BackupRequest.From(job.Request);
        var reason = job.Error ?? job.State.ToString().ToLowerInvariant();
        if (job.Type == Backups.VolumeImportJob)
        {
            if (store.GetVolume(req.VolumeId) is { Status: "importing" } v && VolumeAttrs.Str(v.Attributes, Backups.JobAttr) == job.Id.ToString("D"))
                await SettleImportFailedAsync(job.Id, req, reason, ct);
            else await DropImportDatasetsAsync(job.Id, ct);
            return;
        }
        Backups.RemoveTemps(options.BackupDir, req.FileName);
        if (req.SnapshotId is { } sid)
        {
            if (store.GetSnapshot(sid) is { Status: "exporting" } s && VolumeAttrs.Str(s.Attributes, Backups.JobAttr) == job.Id.ToString("D"))
                await SettleExportAsync(job.Id, req, reason, ct);
            return;
        }
        await DropExportSnapshotAsync(job.Id, req.VolumeId, ct);
        if (store.GetVolume(req.VolumeId) is { Status: "exporting" } ev && VolumeAttrs.Str(ev.Attributes, Backups.JobAttr) == job.Id.ToString("D"))
            await SettleExportAsync(job.Id, req, reason, ct);
    }

    /// <summary>
    /// At start: every volume or snapshot still <c>exporting</c>/<c>importing</c> whose job is not going to run again (it
    /// finished, or a crash came between the status and the job's submission) is settled as failed, with the reason.
    /// </summary>
    public async Task<int> RecoverAsync(CancellationToken ct)
    {
        int n = 0;
        var unfinished = Jobs.List(JobState.Pending, int.MaxValue).Concat(Jobs.List(JobState.Running, int.MaxValue))
            .Where(j => j.Type is Backups.VolumeExportJob or Backups.SnapshotExportJob or Backups.VolumeImportJob)
            .Select(j => (j, BackupRequest.From(j.Request))).ToList();
        bool Waiting(Guid id) => unfinished.Any(u => u.Item2.VolumeId == id || u.Item2.SnapshotId == id);
        foreach (var v in store.ListVolumes().Where(v => v.Module == Cinder.Module && v.Status is "exporting" or "importing"))
        {
            if (Waiting(v.Id)) continue;
            var job = VolumeAttrs.Str(v.Attributes, Backups.JobAttr) is { } id && Guid.TryParse(id, out var g) ? Jobs.Get(g) : null;
            if (job is not null && job.State is JobState.Failed or JobState.Cancelled) { await SettleFinishedAsync(job, ct); n++; continue; }
            var now = DateTimeOffset.UtcNow;
            var what = v.Status == "exporting" ? "Export" : "Import";
            await workflows.PutAsync(v, r => r.Status is not ("exporting" or "importing") ? r : r with
            {
                Status = VolumeAttrs.Str(r.Attributes, PriorAttr) ?? (workflows.IsAttached(r) ? "in-use" : "available"),
                Attributes = VolumeAttrs.With(r.Attributes, a => a[Backups.StatusAttr] = Backups.Failed(what, now, "interrupted by a restart before the job was recorded")),
            }, ct);
            n++;
        }
        foreach (var s in store.ListSnapshots().Where(s => s.Module == Cinder.Module && s.Status == "exporting"))
        {
            if (Waiting(s.Id)) continue;
            var job = VolumeAttrs.Str(s.Attributes, Backups.JobAttr) is { } id && Guid.TryParse(id, out var g) ? Jobs.Get(g) : null;
            if (job is not null && job.State is JobState.Failed or JobState.Cancelled) { await SettleFinishedAsync(job, ct); n++; continue; }
            var now = DateTimeOffset.UtcNow;
            await workflows.PutSnapshotAsync(s, r => r.Status != "exporting" ? r : r with
            {
                Status = "available",
                Attributes = VolumeAttrs.With(r.Attributes, a => a[Backups.StatusAttr] = Backups.Failed("Export", now, "interrupted by a restart before the job was recorded")),
            }, ct);
            n++;
        }
        // Import datasets of jobs that are over (an import job's own leftovers are dropped when it runs again).
        foreach (var r in store.ListVolumes().Where(r => r.Module == Cinder.Module && r.Status == Cinder.Deleted && VolumeAttrs.Str(r.Attributes, Backups.ImportJobAttr) is not null))
        {
            var id = Guid.Parse(VolumeAttrs.Str(r.Attributes, Backups.ImportJobAttr)!);
            if (Jobs.Get(id) is { State: JobState.Pending or JobState.Running }) continue;
            await workflows.ReleaseAsync(r, ct);
            n++;
        }
        if (n > 0) Log.Recovered(log, n);
        return n;
    }

    /// <summary>From <see cref="JobEngine.JobFinished"/> (a pool thread): settles in the background, logging a failure.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031", Justification = "A background settle must not crash the process; it is logged and retried at the next start.")]
    public void OnJobFinished(JobRecord job)
    {
        if (job.Type is not (Backups.VolumeExportJob or Backups.SnapshotExportJob or Backups.VolumeImportJob) || job.State == JobState.Succeeded) return;
        _ = Task.Run(async () =>
        {
            try { await SettleFinishedAsync(job, CancellationToken.None); }
            catch (Exception e) { Log.SettleFailed(log, job.Id, e.Message); }
        });
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3201, Level = LogLevel.Information, Message = "block storage: {Type} job {Job} for volume {Volume}, archive {File}")]
        public static partial void Submitted(ILogger logger, Guid job, string type, Guid volume, string file);

        [LoggerMessage(EventId = 3202, Level = LogLevel.Information, Message = "block storage: settled {Count} exports/imports a restart interrupted")]
        public static partial void Recovered(ILogger logger, int count);

        [LoggerMessage(EventId = 3203, Level = LogLevel.Warning, Message = "block storage: settling backup job {Job} failed: {Reason}")]
        public static partial void SettleFailed(ILogger logger, Guid job, string reason);
    }
}
