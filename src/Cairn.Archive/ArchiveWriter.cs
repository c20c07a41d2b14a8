using System.Buffers;
using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cairn.Core.Storage;

namespace Cairn.Archive;

/// <summary>How the tar stream is compressed.</summary>
public enum ArchiveCompression
{
    /// <summary>gzip (the default; what the original and every tool read).</summary>
    Gzip,
    /// <summary>A plain tar.</summary>
    None,
}

/// <summary>Export options.</summary>
public sealed record ArchiveWriteOptions
{
    public ArchiveCompression Compression { get; init; } = ArchiveCompression.Gzip;

    /// <summary>zlib level, 1–9; gzip's default is 6.</summary>
    public int Level { get; init; } = 6;

    /// <summary>Bytes of tar stream per independently compressed gzip member.</summary>
    public int ChunkSize { get; init; } = 1 << 20;

    /// <summary>Compression workers; by default one per core.</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;

    /// <summary>
    /// Store (deflate level 0) the chunks a quick probe finds incompressible (encrypted or already compressed data)
    /// instead of spending level 6 on them for nothing; on by default. See docs/archive.md, "Compression".
    /// </summary>
    public bool StoreIncompressible { get; init; } = true;

    /// <summary>Modification time recorded in the tar headers.</summary>
    public DateTimeOffset? Time { get; init; }
}

/// <summary>Progress of an export or import: image bytes done of the total.</summary>
public readonly record struct ArchiveProgress(long Done, long Total);

/// <summary>What an export wrote.</summary>
public sealed record ArchiveWriteResult(string Path, string ImageDigest, long ImageSize, long DataBytes, long ArchiveBytes);

/// <summary>
/// Writes a StarlingX archive: a gzip-compressed tar holding <c>volume-&lt;uuid&gt;.meta</c> first, then
/// <c>volume-&lt;uuid&gt;.vol</c> as a pax sparse member (GNU sparse format 1.0). See docs/archive.md.
/// </summary>
public static class ArchiveWriter
{
    private const int HoleGranularity = 64 << 10;

    // Blocks read and hashed in parallel per step of the scan (256 MiB of image; 8 KiB of results).
    private const int ScanWindow = 256;

    /// <summary>
    /// Writes the archive of <paramref name="source"/> to <paramref name="directory"/>/<paramref name="fileName"/>
    /// through a temp file in the same directory, fsynced and renamed; the final name never holds a partial archive and
    /// the temp file is removed on any failure or cancellation. <paramref name="meta"/> is the original's meta JSON
    /// (<c>version: 1</c> and the volume's fields); a <c>cairn</c> object with the image digest and size is added.
    /// The source must not change while this runs (export a snapshot).
    /// </summary>
    public static async Task<ArchiveWriteResult> WriteAsync(IImageSource source, Guid volumeId, JsonObject meta,
        string directory, string fileName, ArchiveWriteOptions? options = null, IProgress<ArchiveProgress>? progress = null,
        CancellationToken ct = default)
    {
        options ??= new ArchiveWriteOptions();
        if (options.Level is < 1 or > 9) throw new ArgumentOutOfRangeException(nameof(options), "level must be 1-9");
        var final = BackupDirectory.PathOf(directory, fileName);
        if (File.Exists(final) || Directory.Exists(final))
            throw new ArchiveException(ArchiveError.BadFileName, $"archive {fileName} exists already");
        var temp = Path.Combine(directory, $".{fileName}.{Guid.NewGuid():N}.tmp");
        try
        {
            long archiveBytes, dataBytes;
            string digest;
            var size = source.Size;
            await using (var file = new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.CreateNew, Access = FileAccess.Write, Options = FileOptions.Asynchronous,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead,
            }))
            {
                // Pass 1: which blocks hold non-zero data (the sparse map must precede the data) and the digest.
                var (segments, d) = await Task.Run(() => Scan(source, Math.Max(1, options.Workers), ct), ct);
                digest = d;
                dataBytes = segments.Sum(s => s.Length);
                var m = (JsonObject)meta.DeepClone();
                m["cairn"] = new JsonObject { ["image_digest"] = digest, ["size"] = size };
                var metaBytes = Encoding.UTF8.GetBytes(m.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

                var mtime = (options.Time ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds();
                await using var gz = new ParallelGzipWriter(file, options.Compression, options.ChunkSize,
                    Math.Max(1, options.Workers), options.Level, options.StoreIncompressible);
                var header = new byte[Tar.Block];
                // Member 1: the meta.
                Tar.WriteHeader(header, ArchiveNames.MetaMember(volumeId), metaBytes.Length, '0', mtime);
                await gz.WriteAsync(header, ct);
                await WritePaddedAsync(gz, metaBytes, ct);
                // Member 2: the image, pax sparse 1.0.
                await WriteSparseImageAsync(gz, source, volumeId, size, segments, mtime, progress, ct);
                // End of archive: two zero blocks.
                await gz.WriteAsync(new byte[2 * Tar.Block], ct);
                await gz.CompleteAsync(ct);
                await file.FlushAsync(ct);
                // fsync before the rename: the final name must never point at data still in the page cache.
                await Task.Run(() => file.Flush(flushToDisk: true), ct);
                archiveBytes = file.Length;
            }
            ct.ThrowIfCancellationRequested();
            File.Move(temp, final, overwrite: false);
            DirectorySync.Fsync(directory);
            return new ArchiveWriteResult(final, digest, size, dataBytes, archiveBytes);
        }
        catch
        {
            try { File.Delete(temp); }
            catch (IOException) { } // the original failure is what the caller must see
            throw;
        }
    }

    private static async ValueTask WritePaddedAsync(ParallelGzipWriter gz, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        await gz.WriteAsync(data, ct);
        var pad = (int)Tar.Padding(data.Length);
        if (pad > 0) await gz.WriteAsync(new byte[pad], ct);
    }

    // GNU tar's pax sparse format 1.0 (tar manual, "Storing Sparse Files", §format 1.0): an 'x' header with
    // GNU.sparse.major=1, minor=0, name and realsize; then a ustar member whose data starts with the map (decimal
    // lines: the count, then offset and size of each region, padded to 512) followed by the regions' bytes.
    private static async ValueTask WriteSparseImageAsync(ParallelGzipWriter gz, IImageSource source, Guid volumeId,
        long size, List<ByteRange> segments, long mtime, IProgress<ArchiveProgress>? progress, CancellationToken ct)
    {
        var name = ArchiveNames.ImageMember(volumeId);
        // A file that ends in a hole gets a last empty region at its end, as GNU tar writes it.
        var map = new List<ByteRange>(segments);
        if (map.Count == 0 || map[^1].End < size) map.Add(new ByteRange(size, 0));
        var mapText = new StringBuilder();
        mapText.Append(map.Count.ToString(CultureInfo.InvariantCulture)).Append('\n');
        foreach (var s in map)
            mapText.Append(s.Offset.ToString(CultureInfo.InvariantCulture)).Append('\n')
                .Append(s.Length.ToString(CultureInfo.InvariantCulture)).Append('\n');
        var mapBytes = Encoding.ASCII.GetBytes(mapText.ToString());
        var mapLen = mapBytes.Length + Tar.Padding(mapBytes.Length);
        var stored = mapLen + map.Sum(s => s.Length);

        var pax = new StringBuilder();
        Tar.AppendPaxRecord(pax, "GNU.sparse.major", "1");
        Tar.AppendPaxRecord(pax, "GNU.sparse.minor", "0");
        Tar.AppendPaxRecord(pax, "GNU.sparse.name", name);
        Tar.AppendPaxRecord(pax, "GNU.sparse.realsize", size.ToString(CultureInfo.InvariantCulture));
        if (stored > Tar.MaxOctal11) Tar.AppendPaxRecord(pax, "size", stored.ToString(CultureInfo.InvariantCulture));
        var paxBytes = Encoding.UTF8.GetBytes(pax.ToString());
        var header = new byte[Tar.Block];
        Tar.WriteHeader(header, "./PaxHeaders/" + name, paxBytes.Length, 'x', mtime);
        await gz.WriteAsync(header, ct);
        await WritePaddedAsync(gz, paxBytes, ct);
        Tar.WriteHeader(header, "./GNUSparseFile.0/" + name, stored, '0', mtime);
        await gz.WriteAsync(header, ct);
        await WritePaddedAsync(gz, mapBytes, ct);

        // The regions' bytes are read straight into the compressor's chunk: one read per chunk-sized piece, no copy.
        // The tar data starts 512-aligned and chunks are 512 multiples, so reads stay sector-aligned for a device.
        foreach (var s in segments)
        {
            for (var off = s.Offset; off < s.End;)
            {
                ct.ThrowIfCancellationRequested();
                var space = gz.GetBuffer();
                var n = (int)Math.Min(space.Length, s.End - off);
                source.Read(off, space.Span[..n]);
                await gz.AdvanceAsync(n, ct);
                off += n;
                progress?.Report(new ArchiveProgress(off, size));
            }
        }
        var pad = (int)Tar.Padding(stored);
        if (pad > 0) await gz.WriteAsync(new byte[pad], ct);
        progress?.Report(new ArchiveProgress(size, size));
    }

    /// <summary>
    /// Reads every 1 MiB block that touches an allocated range: its digest, and which 64 KiB pieces hold non-zero
    /// bytes (these become the sparse map's regions; all-zero pieces become holes). Blocks are read and hashed by
    /// <paramref name="workers"/> threads a window at a time (block digests are independent); the window's results are
    /// then folded in order into the outer digest and the map.
    /// </summary>
    internal static (List<ByteRange> Segments, string Digest) Scan(IImageSource source, int workers, CancellationToken ct)
    {
        var size = source.Size;
        var segments = new List<ByteRange>();
        using var digest = new ImageDigest();
        long nextBlock = 0; // first block not yet added to the digest
        var window = new long[ScanWindow];
        var digests = new byte[ScanWindow * 32];
        var masks = new uint[ScanWindow]; // bit p: 64 KiB piece p of the block holds a non-zero byte
        using var blocks = AllocatedBlocks(source).GetEnumerator();
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, workers), CancellationToken = ct };
        while (true)
        {
            var count = 0;
            while (count < ScanWindow && blocks.MoveNext()) window[count++] = blocks.Current;
            if (count == 0) break;
            try
            {
                Parallel.For(0, count, parallel,
                    () => ArrayPool<byte>.Shared.Rent(ImageDigest.BlockSize),
                    (i, _, buf) =>
                    {
                        var off = window[i] * ImageDigest.BlockSize;
                        var n = (int)Math.Min(ImageDigest.BlockSize, size - off);
                        var block = buf.AsSpan(0, n);
                        source.Read(off, block);
                        uint mask = 0;
                        for (int p = 0, bit = 0; p < n; p += HoleGranularity, bit++)
                            if (block.Slice(p, Math.Min(HoleGranularity, n - p)).ContainsAnyExcept((byte)0)) mask |= 1u << bit;
                        masks[i] = mask;
                        ImageDigest.BlockDigest(block, mask == 0, digests.AsSpan(i * 32, 32));
                        return buf;
                    },
                    buf => ArrayPool<byte>.Shared.Return(buf));
            }
            catch (AggregateException e) when (e.InnerExceptions.Count > 0)
            {
                // The source's own error (an IOException from the device), not a wrapper, is what the caller sees.
                ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
            }
            for (var i = 0; i < count; i++)
            {
                var b = window[i];
                digest.AddZeroBlocks(b - nextBlock);
                digest.AddBlockDigest(digests.AsSpan(i * 32, 32));
                nextBlock = b + 1;
                var off = b * ImageDigest.BlockSize;
                var n = (int)Math.Min(ImageDigest.BlockSize, size - off);
                for (int p = 0, bit = 0; p < n; p += HoleGranularity, bit++)
                {
                    if ((masks[i] & (1u << bit)) == 0) continue;
                    var len = Math.Min(HoleGranularity, n - p);
                    if (segments.Count > 0 && segments[^1].End == off + p)
                        segments[^1] = segments[^1] with { Length = segments[^1].Length + len };
                    else segments.Add(new ByteRange(off + p, len));
                }
            }
        }
        var total = (size + ImageDigest.BlockSize - 1) / ImageDigest.BlockSize;
        if (nextBlock < total)
        {
            // The trailing holes: full zero blocks, then maybe a short last one.
            var lastLen = (int)(size - (total - 1) * ImageDigest.BlockSize);
            if (lastLen == ImageDigest.BlockSize) digest.AddZeroBlocks(total - nextBlock);
            else
            {
                digest.AddZeroBlocks(total - 1 - nextBlock);
                digest.AddBlock(new byte[lastLen]);
            }
        }
        return (segments, digest.Finish());
    }

    /// <summary>Indices of the 1 MiB blocks that touch an allocated range, ascending, each once.</summary>
    private static IEnumerable<long> AllocatedBlocks(IImageSource source)
    {
        long next = 0;
        foreach (var r in source.GetAllocatedRanges(0, source.Size))
        {
            if (r.Length <= 0) continue;
            var first = Math.Max(next, r.Offset / ImageDigest.BlockSize);
            var last = (r.End - 1) / ImageDigest.BlockSize;
            for (var b = first; b <= last; b++) yield return b;
            next = Math.Max(next, last + 1);
        }
    }
}
