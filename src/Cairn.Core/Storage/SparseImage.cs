using System.Buffers;
using System.IO.Pipelines;

namespace Cairn.Core.Storage;

/// <summary>
/// The one encoder and decoder of the <see cref="SparseStream"/> format, used by the server (volume ↔ HTTP body) and
/// by the CLI (file ↔ HTTP body) alike. The encoder reads only the ranges its source says hold data and sends only
/// their non-zero blocks; the decoder validates every record before handing its data on, a window at a time.
/// </summary>
public static class SparseImage
{
    /// <summary>Zero blocks are found, and records aligned, at this granularity.</summary>
    public const int Block = 4096;

    /// <summary>Pieces copied at a time. 128 KiB: big copies through the page cache run out of the CPU caches (see Layer.MaxWrite).</summary>
    public const int Window = 128 * 1024;

    /// <summary>
    /// Reads up to <c>into.Length</c> bytes at <paramref name="offset"/>; returns how many it read (fewer only at the
    /// end of the source).
    /// </summary>
    public delegate int Reader(long offset, Span<byte> into);

    /// <summary>Receives one piece of a decoded record: <paramref name="data"/> belongs at <paramref name="offset"/>.</summary>
    public delegate void Writer(long offset, ReadOnlySpan<byte> data);

    /// <summary>
    /// Encodes an image of <paramref name="size"/> bytes whose data lies within <paramref name="dataRanges"/>
    /// (ascending; everything else reads as zeros) to <paramref name="output"/>. Returns the data bytes sent.
    /// <paramref name="progress"/>, when given, is told the image offset reached after each window.
    /// </summary>
    public static async Task<long> EncodeAsync(PipeWriter output, long size, IEnumerable<ByteRange> dataRanges, Reader read,
        Action<long>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(dataRanges);
        ArgumentNullException.ThrowIfNull(read);
        SparseStream.WriteHeader(output.GetSpan(SparseStream.HeaderSize), size);
        output.Advance(SparseStream.HeaderSize);
        var buf = ArrayPool<byte>.Shared.Rent(Window);
        var runs = new List<(long Offset, int Start, int Length)>();
        long sent = 0, next = 0;
        try
        {
            foreach (var range in dataRanges)
            {
                // Windows start on a block boundary so that records stay 512-aligned, and never before what was sent.
                long pos = Math.Max(range.Offset & ~(long)(Block - 1), next);
                long end = Math.Min(range.End, size);
                while (pos < end)
                {
                    int want = (int)Math.Min(Window, end - pos);
                    int got = read(pos, buf.AsSpan(0, want));
                    if (got <= 0) break;
                    int len = got;
                    if (len % 512 != 0)
                    {
                        // Only at the end of an image whose size is not a multiple of 512: pad with zeros.
                        var padded = (len + 511) & ~511;
                        buf.AsSpan(len, padded - len).Clear();
                        len = padded;
                    }
                    runs.Clear();
                    var basePos = pos;
                    SparseStream.ForEachNonZeroRun(pos, buf.AsSpan(0, len), Block, (o, d) => runs.Add((o, (int)(o - basePos), d.Length)));
                    foreach (var (o, start, l) in runs)
                    {
                        SparseStream.WriteRecordHeader(output.GetSpan(SparseStream.RecordHeaderSize), (ulong)o, l);
                        output.Advance(SparseStream.RecordHeaderSize);
                        output.Write(buf.AsSpan(start, l));
                        sent += l;
                    }
                    pos += got;
                    next = pos;
                    progress?.Invoke(pos);
                    var flushed = await output.FlushAsync(ct);
                    // The reader went away (the client hung up): nothing more to send.
                    if (flushed.IsCompleted) return sent;
                }
            }
            SparseStream.WriteRecordHeader(output.GetSpan(SparseStream.RecordHeaderSize), SparseStream.EndMarker, 0);
            output.Advance(SparseStream.RecordHeaderSize);
            await output.FlushAsync(ct);
            return sent;
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }

    /// <summary>Reads and checks the stream's header; returns the image size.</summary>
    public static async Task<long> ReadHeaderAsync(PipeReader input, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        var head = await input.ReadAtLeastAsync(SparseStream.HeaderSize, ct);
        if (head.Buffer.Length < SparseStream.HeaderSize)
        {
            input.AdvanceTo(head.Buffer.Start, head.Buffer.End);
            throw CairnException.Invalid("image stream is truncated (no header)");
        }
        var hb = new byte[SparseStream.HeaderSize];
        head.Buffer.Slice(0, SparseStream.HeaderSize).CopyTo(hb);
        input.AdvanceTo(head.Buffer.GetPosition(SparseStream.HeaderSize));
        if (!SparseStream.TryReadHeader(hb, out var size)) throw CairnException.Invalid("not a Cairn sparse image stream (bad header)");
        return size;
    }

    /// <summary>
    /// Decodes the records that follow the header up to the end marker, handing their data to <paramref name="write"/>
    /// in pieces of at most <see cref="Window"/> bytes as they arrive. Records must be 512-byte aligned, ascending and
    /// within the image (<paramref name="size"/> rounded up to 512). Returns the data bytes received.
    /// </summary>
    public static async Task<long> DecodeRecordsAsync(PipeReader input, long size, Writer write, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(write);
        var staging = ArrayPool<byte>.Shared.Rent(Window);
        try
        {
            long written = 0, next = 0, limit = (size + 511) & ~511L;
            var hdr = new byte[SparseStream.RecordHeaderSize];
            while (true)
            {
                await FillAsync(input, hdr, "(no end marker)", ct);
                var (offset, length) = SparseStream.ReadRecordHeader(hdr);
                if (offset == SparseStream.EndMarker) return written;
                if (length == 0 || length > SparseStream.MaxRecordLength || offset % 512 != 0 || length % 512 != 0)
                    throw CairnException.Invalid($"bad record in image stream at offset {offset} (length {length}): records must be 512-byte aligned and at most {SparseStream.MaxRecordLength} bytes");
                if (offset > long.MaxValue || (long)offset < next || (long)offset + length > limit)
                    throw CairnException.Invalid($"bad record in image stream at offset {offset}: out of order or beyond the image size");
                // Copy the record out as it arrives, a window at a time: waiting for a whole record in the pipe fights
                // Kestrel's request buffer limit (1 MB) and stalls the sender.
                for (long done = 0; done < length;)
                {
                    int n = (int)Math.Min(Window, length - done);
                    await FillAsync(input, staging.AsMemory(0, n), "inside a record", ct);
                    write((long)offset + done, staging.AsSpan(0, n));
                    done += n;
                }
                written += length;
                next = (long)offset + length;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(staging); }
    }

    /// <summary>Copies exactly <paramref name="dst"/>.Length bytes from <paramref name="input"/> as they arrive.</summary>
    public static async ValueTask FillAsync(PipeReader input, Memory<byte> dst, string where, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        int got = 0;
        while (got < dst.Length)
        {
            var r = await input.ReadAsync(ct);
            var buf = r.Buffer;
            var take = (int)Math.Min(buf.Length, dst.Length - got);
            buf.Slice(0, take).CopyTo(dst.Span[got..]);
            got += take;
            input.AdvanceTo(buf.GetPosition(take));
            if (take == 0 && r.IsCompleted) throw CairnException.Invalid($"image stream is truncated {where}");
        }
    }
}
