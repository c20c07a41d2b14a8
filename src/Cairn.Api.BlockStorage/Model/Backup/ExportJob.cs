using Cairn.Archive;
using Cairn.Core.Jobs;
using Cairn.Core.Services;

namespace Cairn.Api.BlockStorage.Model;

/// <summary>
/// A volume or snapshot export (<see cref="Backups.VolumeExportJob"/>, <see cref="Backups.SnapshotExportJob"/>): one
/// <see cref="JobBatch{TWork, TResult}"/> step over the job's one item. A volume is exported through an internal
/// point-in-time snapshot (<see cref="Backups.ExportSnapshotName"/>, hidden from the API), so an <c>in-use</c> volume
/// exports too and the archive is of one instant; a snapshot is read as it is. <see cref="ArchiveWriter"/> writes a
/// temp file in the backup directory, fsyncs it and renames it, so the final name never holds a partial archive. After
/// a kill -9 the resumed job deletes the temp file the dead process left, finds its snapshot again, and writes the
/// archive anew (or finds it complete, when the rename came before the crash).
/// </summary>
public abstract partial class ExportJob(BackupWorkflows backups, VolumeService volumes, IStateStore store, ILogger log) : IJobHandler
{
    public abstract string Type { get; }

    public async Task RunAsync(JobContext ctx, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        var job = ctx.Job.Id;
        var req = BackupRequest.From(ctx.Job.Request);
        var step = new JobBatch<BackupRequest, ArchiveWriteResult?>
        {
            Mark = Backups.Exporting,
            Plan = (_, _, _) => ValueTask.FromResult(ItemPlan<BackupRequest>.Run(req)),
            Run = async (works, c) => [await ExportAsync(ctx, works[0], c)],
            Outcome = (o, _) =>
            {
                var data = JobItems.Data(o.Item);
                data["file_name"] = req.FileName;
                if (o.Result is { } r)
                {
                    data["image_digest"] = r.ImageDigest;
                    data["image_bytes"] = r.ImageSize;
                    data["data_bytes"] = r.DataBytes;
                    data["archive_bytes"] = r.ArchiveBytes;
                }
                data["seconds"] = o.Seconds;
                return ValueTask.FromResult(JobItems.With(o.Item, ItemState.Done, data));
            },
        };
        try
        {
            await step.RunAsync(ctx, ctx.Items, 1, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested && !ctx.Job.CancelRequested)
        {
            throw; // shutdown: the job stays pending and resumes at the next start (the writer removed its temp file)
        }
        catch (Exception e)
        {
            var reason = e is OperationCanceledException ? "cancelled" : e.Message;
            Log.Failed(log, job, req.VolumeId, reason);
            Backups.RemoveTemps(backups.Directory, req.FileName);
            if (req.SnapshotId is null) await backups.DropExportSnapshotAsync(job, req.VolumeId, CancellationToken.None);
            await backups.SettleExportAsync(job, req, reason, CancellationToken.None);
            throw new CairnException(ErrorKind.InvalidArgument, reason, e);
        }
        finally
        {
            BackupProgress.End(req.SnapshotId is { } s ? [s, req.VolumeId] : [req.VolumeId]);
        }
        await backups.SettleExportAsync(job, req, null, CancellationToken.None);
    }

    private async Task<ArchiveWriteResult?> ExportAsync(JobContext ctx, BackupRequest req, CancellationToken ct)
    {
        var job = ctx.Job.Id;
        var vol = store.GetVolume(req.VolumeId) ?? throw CairnException.NotFound($"volume {req.VolumeId} no longer exists");
        var dir = backups.Directory;
        System.IO.Directory.CreateDirectory(dir);
        if (Backups.RemoveTemps(dir, req.FileName) > 0) Log.TempRemoved(log, job, req.FileName);
        if (ctx.IsResume && File.Exists(Path.Combine(dir, req.FileName)))
        {
            // The rename (after the fsync) came before the crash: the archive is whole.
            if (req.SnapshotId is null) await backups.DropExportSnapshotAsync(job, req.VolumeId, ct);
            return null;
        }
        string snapshot;
        SnapshotRecord? snapRecord = null;
        if (req.SnapshotId is { } sid)
        {
            snapRecord = store.GetSnapshot(sid) ?? throw CairnException.NotFound($"snapshot {sid} no longer exists");
            snapshot = snapRecord.Name;
        }
        else
        {
            snapshot = Backups.ExportSnapshotName(job);
            if (await volumes.GetSnapshotAsync(vol.Name, snapshot, ct) is null)
            {
                var now = DateTimeOffset.UtcNow;
                await volumes.CreateSnapshotAsync(vol.Name, snapshot, Cinder.OwnerOf(vol.Project), ct: ct, recordFor: (s, v) => new SnapshotRecord(Guid.NewGuid(), v.Id, s.Name,
                    "available", s.Size, now, now, new JsonObject { ["internal"] = true, ["project_id"] = v.Project, [Backups.ExportJobAttr] = job.ToString("D") }, Cinder.Module));
            }
        }
        var progress = BackupProgress.For(req.SnapshotId is { } ps ? [ps, req.VolumeId] : [req.VolumeId]);
        ArchiveWriteResult result;
        using (var dev = await volumes.OpenAsync(vol.Name, snapshot, ct))
        {
            result = await ArchiveWriter.WriteAsync(new BlockDeviceImageSource(dev), vol.Id, backups.MetaOf(vol, snapRecord), dir, req.FileName,
                new ArchiveWriteOptions(), progress, ct);
        }
        if (req.SnapshotId is null) await backups.DropExportSnapshotAsync(job, req.VolumeId, ct);
        Log.Exported(log, job, vol.Id, req.FileName, result.ImageSize, result.DataBytes, result.ArchiveBytes);
        return result;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3211, Level = LogLevel.Information, Message = "block storage: export job {Job} wrote {File} of volume {Volume}: image {Image} bytes, data {Data} bytes, archive {Archive} bytes")]
        public static partial void Exported(ILogger logger, Guid job, Guid volume, string file, long image, long data, long archive);

        [LoggerMessage(EventId = 3212, Level = LogLevel.Warning, Message = "block storage: export job {Job} of volume {Volume} failed: {Reason}")]
        public static partial void Failed(ILogger logger, Guid job, Guid volume, string reason);

        [LoggerMessage(EventId = 3213, Level = LogLevel.Information, Message = "block storage: export job {Job} removed the temp file of {File} an interrupted attempt left")]
        public static partial void TempRemoved(ILogger logger, Guid job, string file);
    }
}

/// <summary>Export of a volume (<c>wrs-volume:os-volume_export</c>).</summary>
public sealed class VolumeExportJob(BackupWorkflows backups, VolumeService volumes, IStateStore store, ILogger<VolumeExportJob> log)
    : ExportJob(backups, volumes, store, log)
{
    public override string Type => Backups.VolumeExportJob;
}

/// <summary>Export of a snapshot (<c>wrs-snapshot:os-export_snapshot</c>).</summary>
public sealed class SnapshotExportJob(BackupWorkflows backups, VolumeService volumes, IStateStore store, ILogger<SnapshotExportJob> log)
    : ExportJob(backups, volumes, store, log)
{
    public override string Type => Backups.SnapshotExportJob;
}
