using System.Diagnostics;
using System.IO.Pipelines;
using Cairn.Core.Services;
using Cairn.Core.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Cairn.Core.Transfer;

/// <summary>Where an import's bytes come from.</summary>
public abstract record ImageSource
{
    private ImageSource() { }

    /// <summary>A stream in the sparse format (<see cref="SparseStream"/>), header first.</summary>
    public sealed record Sparse(PipeReader Body) : ImageSource;

    /// <summary>Raw bytes, exactly <paramref name="Length"/> of them.</summary>
    public sealed record Raw(PipeReader Body, long Length) : ImageSource;

    /// <summary>A file on the server's host, read by the server itself (the caller decided the requester may).</summary>
    public sealed record LocalFile(string Path) : ImageSource;
}

/// <summary>What an import did.</summary>
public sealed record ImportResult(VolumeView Volume, long ImageSize, long Written, bool Created, bool Synced);

/// <summary>
/// Image import and export: a volume filled from a stream or a file (created sized to the image when absent), or
/// read out raw or sparse. Zero blocks are never stored or sent, holes never read.
/// </summary>
public sealed class ImageTransfer(VolumeService volumes, TargetService targets, ILogger<ImageTransfer> log)
{
    /// <summary>
    /// Imports an image into volume <paramref name="name"/>, creating it (sized to the image, rounded up to 512) when
    /// absent. Acknowledged means it survives kill -9 of the server (the map reaches the page cache); stable storage
    /// follows in the background, or before this returns with <paramref name="sync"/>. A failed import into a volume it
    /// created leaves nothing behind. An existing volume is replaced only with <paramref name="force"/>, never while a
    /// target that exports it has live sessions, and then reads exactly as the image over the image's length (its zero
    /// blocks included: the range is discarded first, not written over around the holes).
    /// </summary>
    public async Task<ImportResult> ImportAsync(string name, ImageSource source, bool parents, bool sync, bool force = false, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        var started = Stopwatch.GetTimestamp();
        Names.ValidateDataset(name);
        // Decided before a byte of the image is read, so that a client sending "Expect: 100-continue" sends none.
        var existing = await volumes.GetAsync(name, ct);
        if (existing is not null && existing.Dataset.Kind != DatasetKind.Volume) throw CairnException.Invalid($"{name} is a folder, not a volume");
        if (existing is not null && !force)
            throw CairnException.Conflict($"volume {name} exists; an import replaces its data: ask for it with force (cairn volume import --force)");
        if (existing is not null) RefuseWhileInUse(name);
        SafeFileHandle? file = null;
        long size = source switch
        {
            ImageSource.Sparse s => await SparseImage.ReadHeaderAsync(s.Body, ct),
            ImageSource.Raw r => r.Length,
            ImageSource.LocalFile f => RandomAccess.GetLength(file = ImageFiles.OpenForRead(f.Path)),
            _ => throw new ArgumentOutOfRangeException(nameof(source)),
        };
        using var fileLease = file;
        if (size <= 0) throw CairnException.Invalid("the image is empty");
        var volumeSize = (size + 511) & ~511L;

        bool created = false;
        if (existing is null)
        {
            await volumes.CreateVolumeAsync(name, volumeSize, parents, ct: ct);
            created = true;
        }
        else if (existing.Dataset.Size < size)
            throw CairnException.Invalid($"volume {name} ({existing.Dataset.Size} bytes) is smaller than the image ({size} bytes); resize it first");

        long written;
        var dev = await volumes.OpenAsync(name, ct: ct);
        bool flushingInBackground = false;
        try
        {
            // Only non-zero blocks are written: over an existing volume the image's range must read as zeros first.
            if (!created) dev.Discard(0, Math.Min(volumeSize, dev.Size));
            var copying = Stopwatch.GetTimestamp();
            written = source switch
            {
                ImageSource.LocalFile => await ImageCopy.FromFileAsync(file!, size, dev, ct),
                ImageSource.Sparse s => await SparseImage.DecodeRecordsAsync(s.Body, size, (o, d) => dev.Write(o, d, fua: false), ct),
                ImageSource.Raw r => await ImageCopy.FromRawAsync(r.Body, size, dev, ct),
                _ => throw new ArgumentOutOfRangeException(nameof(source)),
            };
            var flushing = Stopwatch.GetTimestamp();
            // The fsync runs off the request thread (the device's async path): a slow disk must not hold one of Kestrel's threads.
            if (sync) await dev.FlushAsync(ct);
            else dev.Checkpoint();
            var now = Stopwatch.GetTimestamp();
            Log.Imported(log, name, source is ImageSource.LocalFile ? "a server-side file" : "a stream", written, size, Ms(started, now),
                Ms(started, copying), Ms(copying, flushing), sync ? "sync" : "checkpoint", Ms(flushing, now));
            if (!sync)
            {
                BlockingIo.Post(() => FlushInBackground(dev, name));
                flushingInBackground = true;
            }
        }
        catch when (created)
        {
            dev.Dispose();
            try { await volumes.DestroyAsync(name, recursive: false, ct: CancellationToken.None); } catch (CairnException) { }
            throw;
        }
        finally
        {
            if (!flushingInBackground) dev.Dispose();
        }
        var v = (await volumes.GetAsync(name, CancellationToken.None))!;
        return new ImportResult(v, size, written, created, sync);
    }

    /// <summary>Refuses to replace a volume under initiators that are using it.</summary>
    private void RefuseWhileInUse(string name)
    {
        foreach (var iqn in targets.TargetsUsing(name))
        {
            var sessions = targets.Sessions(iqn).Count;
            if (sessions > 0)
                throw CairnException.Conflict($"volume {name} is exported by target {iqn} with {sessions} live session{(sessions == 1 ? "" : "s")}; " +
                    "an import would change its data under the initiators: end them first (cairn target deny, or delete the target)");
        }
    }

    /// <summary>Opens a volume, or a snapshot (<c>NAME@SNAP</c>), to export; the caller disposes it.</summary>
    public async Task<IBlockDevice> OpenForExportAsync(string name, CancellationToken ct = default)
    {
        if (name.Contains('@'))
        {
            var (ds, snap) = Names.ValidateSnapshot(name);
            return await volumes.OpenAsync(ds, snap, ct);
        }
        Names.ValidateDataset(name);
        if (await volumes.GetDatasetAsync(name, ct) is not { Kind: DatasetKind.Volume }) throw CairnException.NotFound($"volume {name} does not exist");
        return await volumes.OpenAsync(name, ct: ct);
    }

    /// <summary>Writes the device's image in the sparse format: only allocated ranges are read, only non-zero blocks sent.</summary>
    public static Task<long> ExportSparseAsync(IBlockDevice dev, PipeWriter output, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(dev);
        return SparseImage.EncodeAsync(output, dev.Size, dev.GetAllocatedRanges(0, dev.Size), (pos, into) =>
        {
            dev.Read(pos, into);
            return into.Length;
        }, null, ct);
    }

    /// <summary>Writes every byte of the device's image.</summary>
    public static async Task ExportRawAsync(IBlockDevice dev, PipeWriter output, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(dev);
        ArgumentNullException.ThrowIfNull(output);
        var size = dev.Size;
        var buf = System.Buffers.ArrayPool<byte>.Shared.Rent(SparseImage.Window);
        try
        {
            for (long pos = 0; pos < size; pos += SparseImage.Window)
            {
                int len = (int)Math.Min(SparseImage.Window, size - pos);
                dev.Read(pos, buf.AsSpan(0, len));
                await output.WriteAsync(buf.AsMemory(0, len), ct);
            }
            await output.FlushAsync(ct);
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(buf); }
    }

    private void FlushInBackground(IBlockDevice dev, string name)
    {
        using (dev)
        {
            try { dev.Flush(); }
            // Destroyed or shut down meanwhile: nothing left to make durable.
            catch (Exception e) when (e is CairnException or ObjectDisposedException) { Log.BackgroundFlushSkipped(log, name, e.Message); }
            catch (IOException e) { Log.BackgroundFlushFailed(log, name, e.Message); }
        }
    }

    private static double Ms(long from, long to) => Stopwatch.GetElapsedTime(from, to).TotalMilliseconds;
}
