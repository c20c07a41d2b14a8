using Cairn.Archive;
using Cairn.Core.Jobs;
using Cairn.Core.Services;
using Cairn.Core.Storage;

namespace Cairn.Api.BlockStorage.Model;

/// <summary>
/// A volume import (<c>wrs-volume:os-volume_import</c>): the archive is read into a new, hidden dataset of the volume's
/// size (only non-zero runs are written, so the volume stays thin), flushed, and swapped in only once the whole archive
/// was read and verified (<see cref="VolumeWorkflows.SwapDatasetAsync"/>, one state-store commit); a failed, corrupt or
/// truncated import drops the new dataset and leaves the volume exactly as it was. Each attempt uses a dataset of its
/// own name; a resumed job first drops what an interrupted attempt made, then reads the archive again.
/// </summary>
public sealed partial class ImportJob(BackupWorkflows backups, VolumeService volumes, IStateStore store, ILogger<ImportJob> log) : IJobHandler
{
    public string Type => Backups.VolumeImportJob;

    public async Task RunAsync(JobContext ctx, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        var job = ctx.Job.Id;
        var req = BackupRequest.From(ctx.Job.Request);
        var step = new JobBatch<BackupRequest, ArchiveReadResult>
        {
            Mark = Backups.Importing,
            Plan = (_, _, _) => ValueTask.FromResult(ItemPlan<BackupRequest>.Run(req)),
            Run = async (works, c) => [await ImportAsync(ctx, works[0], c)],
            Outcome = (o, _) =>
            {
                var data = JobItems.Data(o.Item);
                data["file_name"] = req.FileName;
                data["image_digest"] = o.Result.ImageDigest;
                data["digest_verified"] = o.Result.DigestVerified;
                data["image_bytes"] = o.Result.ImageSize;
                data["data_bytes"] = o.Result.DataBytes;
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
            throw; // shutdown: pending again; the next attempt drops this one's dataset and starts over
        }
        catch (Exception e)
        {
            var reason = e is OperationCanceledException ? "cancelled" : e.Message;
            Log.Failed(log, job, req.VolumeId, reason);
            await backups.SettleImportFailedAsync(job, req, reason, CancellationToken.None);
            throw new CairnException(ErrorKind.InvalidArgument, reason, e);
        }
        finally
        {
            BackupProgress.End(req.VolumeId);
        }
    }

    private async Task<ArchiveReadResult> ImportAsync(JobContext ctx, BackupRequest req, CancellationToken ct)
    {
        var job = ctx.Job.Id;
        var vol = store.GetVolume(req.VolumeId) ?? throw CairnException.NotFound($"volume {req.VolumeId} no longer exists");
        if (VolumeAttrs.Str(vol.Attributes, Backups.ImportedByAttr) == job.ToString("D"))
        {
            // The swap was committed before a crash: the import is done; only the replaced dataset may be left to collect.
            await backups.DropImportDatasetsAsync(job, ct);
            return new ArchiveReadResult(vol.Id, [], vol.Size, VolumeAttrs.Str(vol.Attributes, "import_digest") ?? "", false, 0);
        }
        // What an interrupted attempt of this job made (never the volume's own dataset).
        await backups.DropImportDatasetsAsync(job, ct);
        var name = Backups.ImportDatasetName(vol.Name, vol.Id, job, ctx.Job.Attempts);
        var now = DateTimeOffset.UtcNow;
        // The record first (hidden: deleted, internal), so that a crash before the dataset exists leaves nothing the
        // reconcile would adopt as an admin volume; then the dataset, recorded under the same record.
        var holder = new VolumeRecord(Guid.NewGuid(), vol.Project, name, Cinder.Deleted, vol.Size, now, now,
            new JsonObject { ["internal"] = true, [Backups.ImportJobAttr] = job.ToString("D") }, Cinder.Module);
        await store.WriteAsync(w => w.Put(holder), ct);
        await volumes.CreateVolumeAsync(name, vol.Size, parents: false, Cinder.OwnerOf(vol.Project), recordFor: _ => holder, ct: ct);

        var progress = BackupProgress.For(req.VolumeId);
        ArchiveReadResult result;
        await using (var file = BackupDirectory.OpenRead(backups.Directory, req.FileName))
        using (var dev = await volumes.OpenAsync(name, null, ct))
        {
            var sector = dev.SectorSize;
            result = await ArchiveReader.ReadAsync(file, async (e, c) =>
            {
                if (e.Data.Length % sector == 0)
                {
                    await dev.WriteAsync(e.Offset, e.Data, fua: false, c);
                    return;
                }
                // The last run of an image whose size is not a whole number of sectors: padded with zeros.
                var padded = new byte[(e.Data.Length + sector - 1) / sector * sector];
                e.Data.CopyTo(padded);
                await dev.WriteAsync(e.Offset, padded, fua: false, c);
            }, new ArchiveReadOptions { ExpectedVolumeId = req.CrossVolume ? null : vol.Id, MaxImageSize = vol.Size }, progress, ct);
            await dev.FlushAsync(ct);
        }
        ct.ThrowIfCancellationRequested();
        await backups.SwapInAsync(job, req, holder.Id, result, ct);
        Log.Imported(log, job, vol.Id, req.FileName, result.ImageSize, result.DataBytes, result.DigestVerified);
        return result;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3221, Level = LogLevel.Information, Message = "block storage: import job {Job} read {File} into volume {Volume}: image {Image} bytes, data {Data} bytes, digest verified {Verified}")]
        public static partial void Imported(ILogger logger, Guid job, Guid volume, string file, long image, long data, bool verified);

        [LoggerMessage(EventId = 3222, Level = LogLevel.Warning, Message = "block storage: import job {Job} into volume {Volume} failed, the volume is unchanged: {Reason}")]
        public static partial void Failed(ILogger logger, Guid job, Guid volume, string reason);
    }
}
