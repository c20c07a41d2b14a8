using System.Buffers;
using Cairn.Core.Storage;

namespace Cairn.Cli;

/// <summary>Client side of import/export: reads a file skipping its holes and zero blocks, writes one keeping holes.</summary>
internal static class Images
{
    // 128 KiB pieces: big copies through the page cache run out of the CPU caches (see Layer.MaxWrite).
    private const int Window = 128 * 1024;
    private const int Block = 4096;

    /// <summary>Writes <paramref name="path"/> to <paramref name="output"/> in the sparse format.</summary>
    public static async Task WriteSparseAsync(string path, Stream output, Action<long>? progress, CancellationToken ct)
    {
        using var fh = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        var size = RandomAccess.GetLength(fh);
        var buf = ArrayPool<byte>.Shared.Rent(Window);
        var head = new byte[SparseStream.RecordHeaderSize];
        try
        {
            var h = new byte[SparseStream.HeaderSize];
            SparseStream.WriteHeader(h, size);
            await output.WriteAsync(h, ct);
            var runs = new List<(long Offset, int Start, int Length)>();
            foreach (var (regionStart, regionLength) in SparseFile.DataRegions(fh, size))
            {
                // Align windows to the block size so records stay 512-aligned.
                long pos = regionStart & ~(long)(Block - 1);
                long end = regionStart + regionLength;
                while (pos < end)
                {
                    int want = (int)Math.Min(Window, end - pos);
                    int got = 0;
                    while (got < want)
                    {
                        var n = RandomAccess.Read(fh, buf.AsSpan(got, want - got), pos + got);
                        if (n == 0) break;
                        got += n;
                    }
                    if (got == 0) break;
                    int len = got;
                    if (len % 512 != 0)
                    {
                        var padded = (len + 511) & ~511;
                        buf.AsSpan(len, padded - len).Clear();
                        len = padded;
                    }
                    runs.Clear();
                    var basePos = pos;
                    SparseStream.ForEachNonZeroRun(pos, buf.AsSpan(0, len), Block, (o, d) => runs.Add((o, (int)(o - basePos), d.Length)));
                    foreach (var (o, start, l) in runs)
                    {
                        SparseStream.WriteRecordHeader(head, (ulong)o, l);
                        await output.WriteAsync(head, ct);
                        await output.WriteAsync(buf.AsMemory(start, l), ct);
                    }
                    pos += got;
                    progress?.Invoke(pos);
                }
            }
            SparseStream.WriteRecordHeader(head, SparseStream.EndMarker, 0);
            await output.WriteAsync(head, ct);
            await output.FlushAsync(ct);
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }

    /// <summary>Reads a sparse stream into a new file of the image's size: holes stay holes.</summary>
    public static async Task<(long Size, long Written)> ReadSparseAsync(Stream input, string path, CancellationToken ct)
    {
        var head = new byte[SparseStream.HeaderSize];
        await input.ReadExactlyAsync(head, ct);
        if (!SparseStream.TryReadHeader(head, out var size)) throw new CliError("the server sent an unexpected image format");
        var tmp = path + ".cairn-partial";
        long written = 0;
        var buf = ArrayPool<byte>.Shared.Rent(SparseStream.MaxRecordLength);
        try
        {
            using (var fh = File.OpenHandle(tmp, FileMode.Create, FileAccess.ReadWrite, FileShare.None))
            {
                RandomAccess.SetLength(fh, size);
                var rh = new byte[SparseStream.RecordHeaderSize];
                while (true)
                {
                    await input.ReadExactlyAsync(rh, ct);
                    var (offset, length) = SparseStream.ReadRecordHeader(rh);
                    if (offset == SparseStream.EndMarker) break;
                    if (length > SparseStream.MaxRecordLength) throw new CliError("the server sent a malformed image record");
                    await input.ReadExactlyAsync(buf.AsMemory(0, (int)length), ct);
                    // The image size may not be a multiple of 512: never write past it.
                    var l = (int)Math.Min(length, size - (long)offset);
                    if (l > 0) RandomAccess.Write(fh, buf.AsSpan(0, l), (long)offset);
                    written += l;
                }
            }
            File.Move(tmp, path, overwrite: true);
            return (size, written);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }
}
