using System.Collections.Concurrent;
using System.Globalization;
using Cairn.Archive;

namespace Cairn.Api.BlockStorage.Model;

/// <summary>
/// StarlingX export and import (seed 002, <c>wrs-volume</c>/<c>wrs-snapshot</c>): job types, the attributes they keep
/// on records, and the original's <c>backup_status</c> strings.
/// </summary>
public static class Backups
{
    public const string VolumeExportJob = "block-storage.volume-export";
    public const string SnapshotExportJob = "block-storage.snapshot-export";
    public const string VolumeImportJob = "block-storage.volume-import";

    /// <summary>The original's string, in the record's attributes (shown as <c>wrs-volume:backup_status</c>/<c>wrs-snapshot:backup_status</c>).</summary>
    public const string StatusAttr = "backup_status";

    /// <summary>The job that runs (or last ran) an export or import of this volume or snapshot.</summary>
    public const string JobAttr = "backup_job";

    /// <summary>On the record of an import's new dataset (hidden, <see cref="Cinder.Deleted"/>): the import job it belongs to.</summary>
    public const string ImportJobAttr = "import_job";

    /// <summary>On a volume: the import job whose data it holds (a resumed job that finds itself here is done).</summary>
    public const string ImportedByAttr = "imported_by";

    /// <summary>On an export's internal point-in-time snapshot: the export job it belongs to.</summary>
    public const string ExportJobAttr = "export_job";

    /// <summary>The item stage an export or import records before it starts writing (so a resumed job knows it ran).</summary>
    public const string Exporting = "exporting";
    public const string Importing = "importing";

    /// <summary>
    /// The original's timestamps: Python's <c>str(datetime.utcnow())</c>, <c>2015-02-27 16:35:53.545339</c>, which
    /// leaves the fraction out when the microseconds are zero.
    /// </summary>
    public static string Time(DateTimeOffset t)
    {
        var u = t.UtcDateTime;
        var micros = u.Ticks % TimeSpan.TicksPerSecond / 10;
        return u.ToString(micros == 0 ? "yyyy-MM-dd HH:mm:ss" : "yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture);
    }

    /// <summary><c>Export started at …</c> (<paramref name="what"/>: <c>Export</c>, <c>Import</c>, <c>Snapshot export</c>).</summary>
    public static string Started(string what, DateTimeOffset t) => $"{what} started at {Time(t)}";

    public static string Completed(string what, DateTimeOffset t) => $"{what} completed at {Time(t)}";

    /// <summary><c>Export failed at … Reason: …</c>; the reason is one line.</summary>
    public static string Failed(string what, DateTimeOffset t, string reason) =>
        $"{what} failed at {Time(t)} Reason: {reason.ReplaceLineEndings(" ").Trim()}";

    /// <summary>The name of an export's internal snapshot (hidden from the API).</summary>
    public static string ExportSnapshotName(Guid job) => $"export-{job:N}";

    /// <summary>An import's new dataset, next to the volume's: one per attempt, so a restart never meets a half-made one under the name it is about to use.</summary>
    public static string ImportDatasetName(string volumeDataset, Guid volumeId, Guid job, int attempt)
    {
        var pool = volumeDataset.Split('/')[0];
        return $"{pool}/volume-{volumeId:D}-import-{job.ToString("N")[..12]}-{attempt}";
    }

    /// <summary>The temp files <see cref="ArchiveWriter"/> makes for <paramref name="fileName"/> (<c>.NAME.RANDOM.tmp</c>): a kill -9 can leave one behind.</summary>
    public static int RemoveTemps(string directory, string fileName)
    {
        if (!Directory.Exists(directory)) return 0;
        int n = 0;
        foreach (var f in Directory.EnumerateFiles(directory, "." + fileName + ".*.tmp"))
        {
            File.Delete(f);
            n++;
        }
        return n;
    }
}

/// <summary>What an export or import job was asked to do (its job request), as stored.</summary>
/// <param name="VolumeId">The volume exported, or imported into (for a snapshot export: the snapshot's volume).</param>
/// <param name="SnapshotId">For a snapshot export, the snapshot.</param>
/// <param name="FileName">The archive's plain file name in the backup directory.</param>
/// <param name="PriorStatus">The volume's (snapshot's) status before: what it returns to when an import fails.</param>
/// <param name="CrossVolume">Import: the archive may be of another volume.</param>
/// <param name="RestoreMetadata">Import: the archive's metadata replaces the volume's.</param>
public sealed record BackupRequest(Guid VolumeId, Guid? SnapshotId, string FileName, string PriorStatus, bool CrossVolume = false, bool RestoreMetadata = false)
{
    public JsonObject ToJson() => new()
    {
        ["volume_id"] = VolumeId.ToString("D"),
        ["snapshot_id"] = SnapshotId?.ToString("D"),
        ["file_name"] = FileName,
        ["prior_status"] = PriorStatus,
        ["cross_volume"] = CrossVolume,
        ["restore_metadata"] = RestoreMetadata,
    };

    public static BackupRequest From(JsonNode? n)
    {
        var o = n as JsonObject ?? throw new InvalidOperationException("backup job request is not an object");
        return new BackupRequest(
            Guid.Parse(VolumeAttrs.Str(o, "volume_id")!),
            VolumeAttrs.Str(o, "snapshot_id") is { } s ? Guid.Parse(s) : null,
            VolumeAttrs.Str(o, "file_name")!,
            VolumeAttrs.Str(o, "prior_status") ?? "available",
            VolumeAttrs.Flag(o, "cross_volume"),
            VolumeAttrs.Flag(o, "restore_metadata"));
    }
}

/// <summary>
/// Bytes done and total of the exports and imports running in this process, by volume or snapshot id (what the views
/// show while one runs). In memory only: after a restart a resumed job starts counting again.
/// </summary>
public static class BackupProgress
{
    private static readonly ConcurrentDictionary<Guid, ArchiveProgress> Running = new();

    public static ArchiveProgress? Of(Guid id) => Running.TryGetValue(id, out var p) ? p : null;

    /// <summary>A progress sink that records under <paramref name="ids"/> (a snapshot export: the snapshot and its volume).</summary>
    public static IProgress<ArchiveProgress> For(params Guid[] ids)
    {
        foreach (var id in ids) Running[id] = new ArchiveProgress(0, 0);
        return new Sink(ids);
    }

    public static void End(params Guid[] ids)
    {
        foreach (var id in ids) Running.TryRemove(id, out _);
    }

    /// <summary>Whole percent, rounded down (100 only when done).</summary>
    public static int Percent(ArchiveProgress p) => p.Total <= 0 ? 0 : (int)Math.Min(100, p.Done * 100 / p.Total);

    // Synchronous (not Progress<T>, which posts to the thread pool): the view reads the latest figure.
    private sealed class Sink(Guid[] ids) : IProgress<ArchiveProgress>
    {
        public void Report(ArchiveProgress value)
        {
            foreach (var id in ids) Running[id] = value;
        }
    }
}
