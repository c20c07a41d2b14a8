using System.Buffers;
using System.IO.Pipelines;
using Cairn.Core;
using Cairn.Core.Services;
using Cairn.Core.Storage;
using Microsoft.AspNetCore.Http.Features;

namespace Cairn.Api.Admin;

/// <summary>
/// Streams volume images in and out: <c>PUT /cairn/v1/volume-data/{name}</c> imports (creating the volume sized to
/// the image when absent), <c>GET</c> exports a volume or snapshot. Either side may use the sparse format
/// (<see cref="SparseStream"/>, holes and zero blocks not sent) or raw bytes.
/// </summary>
internal static class VolumeData
{
    private const int Block = 4096;
    // 128 KiB pieces: big copies through the page cache run out of the CPU caches (see Layer.MaxWrite).
    private const int Window = 128 * 1024;

    public static async Task<IResult> ImportAsync(string name, bool? parents, HttpContext ctx, VolumeService svc, ILogger<VolumeService> log, CancellationToken ct)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        Names.ValidateDataset(name);
        if (ctx.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = null;
        var reader = ctx.Request.BodyReader;
        bool sparse = ctx.Request.ContentType?.StartsWith(SparseStream.MediaType, StringComparison.OrdinalIgnoreCase) == true;
        long size;
        if (sparse)
        {
            var head = await reader.ReadAtLeastAsync(SparseStream.HeaderSize, ct);
            var hb = new byte[SparseStream.HeaderSize];
            if (head.Buffer.Length < SparseStream.HeaderSize) throw CairnException.Invalid("image stream is truncated (no header)");
            head.Buffer.Slice(0, SparseStream.HeaderSize).CopyTo(hb);
            if (!SparseStream.TryReadHeader(hb, out size)) throw CairnException.Invalid("not a Cairn sparse image stream (bad header)");
            reader.AdvanceTo(head.Buffer.GetPosition(SparseStream.HeaderSize));
        }
        else
        {
            size = ctx.Request.ContentLength ?? throw CairnException.Invalid("a raw import needs a Content-Length");
        }
        if (size <= 0) throw CairnException.Invalid("the image is empty");
        var volumeSize = (size + 511) & ~511L;

        bool created = false;
        var existing = svc.Get(name);
        if (existing is null)
        {
            await svc.CreateVolumeAsync(name, volumeSize, parents ?? false, ct: ct);
            created = true;
        }
        else if (existing.Dataset.Kind != DatasetKind.Volume) throw CairnException.Invalid($"{name} is a folder, not a volume");
        else if (existing.Dataset.Size < size)
            throw CairnException.Invalid($"volume {name} ({existing.Dataset.Size} bytes) is smaller than the image ({size} bytes); resize it first");

        long written = 0;
        try
        {
            using var dev = svc.Engine.Open(name);
            written = sparse ? await ImportSparseAsync(reader, dev, size, ct) : await ImportRawAsync(reader, dev, size, ct);
            var beforeFlush = System.Diagnostics.Stopwatch.GetTimestamp();
            dev.Flush();
            log.LogInformation("Imported {Name}: {Written} bytes stored of {Size} in {Seconds:F3} s (flush {Flush:F3} s)", name, written, size,
                System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds, System.Diagnostics.Stopwatch.GetElapsedTime(beforeFlush).TotalSeconds);
        }
        catch when (created)
        {
            // A failed import into a volume it created leaves nothing behind.
            try { await svc.DestroyAsync(name, recursive: false, CancellationToken.None); } catch (CairnException) { }
            throw;
        }
        var v = svc.Get(name)!;
        return Results.Json(new { volume = VolumeDto.From(v), image_size = size, written, created }, Json.Options, statusCode: created ? 201 : 200);
    }

    private static async Task<long> ImportSparseAsync(PipeReader reader, IBlockDevice dev, long size, CancellationToken ct)
    {
        var staging = ArrayPool<byte>.Shared.Rent(Window);
        try { return await ImportSparseAsync(reader, dev, size, staging, ct); }
        finally { ArrayPool<byte>.Shared.Return(staging); }
    }

    /// <summary>Copies exactly <paramref name="dst"/>.Length bytes from the body as they arrive.</summary>
    private static async ValueTask FillAsync(PipeReader reader, Memory<byte> dst, string where, CancellationToken ct)
    {
        int got = 0;
        while (got < dst.Length)
        {
            var r = await reader.ReadAsync(ct);
            var buf = r.Buffer;
            var take = (int)Math.Min(buf.Length, dst.Length - got);
            buf.Slice(0, take).CopyTo(dst.Span[got..]);
            got += take;
            reader.AdvanceTo(buf.GetPosition(take));
            if (take == 0 && r.IsCompleted) throw CairnException.Invalid($"image stream is truncated {where}");
        }
    }

    private static async Task<long> ImportSparseAsync(PipeReader reader, IBlockDevice dev, long size, byte[] staging, CancellationToken ct)
    {
        long written = 0, next = 0;
        var hdr = new byte[SparseStream.RecordHeaderSize];
        while (true)
        {
            var r = await reader.ReadAtLeastAsync(SparseStream.RecordHeaderSize, ct);
            if (r.Buffer.Length < SparseStream.RecordHeaderSize) throw CairnException.Invalid("image stream is truncated (no end marker)");
            r.Buffer.Slice(0, SparseStream.RecordHeaderSize).CopyTo(hdr);
            var (offset, length) = SparseStream.ReadRecordHeader(hdr);
            reader.AdvanceTo(r.Buffer.GetPosition(SparseStream.RecordHeaderSize));
            if (offset == SparseStream.EndMarker) return written;
            if (length == 0 || length > SparseStream.MaxRecordLength || offset % 512 != 0 || length % 512 != 0)
                throw CairnException.Invalid($"bad record in image stream at offset {offset} (length {length}): records must be 512-byte aligned and at most {SparseStream.MaxRecordLength} bytes");
            if ((long)offset < next || (long)offset + length > ((size + 511) & ~511L))
                throw CairnException.Invalid($"bad record in image stream at offset {offset}: out of order or beyond the image size");
            // Copy the record out as it arrives, in pieces of at most one window: waiting for a whole record in the
            // pipe fights Kestrel's request buffer limit (1 MB) and stalls the sender.
            for (long done = 0; done < length;)
            {
                int n = (int)Math.Min(Window, length - done);
                await FillAsync(reader, staging.AsMemory(0, n), "inside a record", ct);
                dev.Write((long)offset + done, staging.AsSpan(0, n), fua: false);
                done += n;
            }
            written += length;
            next = (long)offset + length;
        }
    }

    private static async Task<long> ImportRawAsync(PipeReader reader, IBlockDevice dev, long size, CancellationToken ct)
    {
        var buf = ArrayPool<byte>.Shared.Rent(Window);
        try
        {
            long pos = 0, written = 0;
            while (pos < size)
            {
                int want = (int)Math.Min(Window, size - pos);
                await FillAsync(reader, buf.AsMemory(0, want), $"after {pos} of {size} bytes", ct);
                int len = want;
                if (len % 512 != 0)
                {
                    var padded = (len + 511) & ~511;
                    buf.AsSpan(len, padded - len).Clear();
                    len = padded;
                }
                var at = pos;
                SparseStream.ForEachNonZeroRun(at, buf.AsSpan(0, len), Block, (o, d) => { dev.Write(o, d, fua: false); written += d.Length; });
                pos += want;
            }
            return written;
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }

    public static async Task ExportAsync(string name, HttpContext ctx, VolumeService svc, CancellationToken ct)
    {
        IBlockDevice dev;
        if (name.Contains('@'))
        {
            var (ds, snap) = Names.ValidateSnapshot(name);
            dev = svc.Engine.OpenSnapshot(ds, snap);
        }
        else
        {
            Names.ValidateDataset(name);
            if (svc.Engine.Get(name) is not { Kind: DatasetKind.Volume }) throw CairnException.NotFound($"volume {name} does not exist");
            dev = svc.Engine.Open(name);
        }
        using var _ = dev;
        var size = dev.Size;
        bool sparse = ctx.Request.Headers.Accept.Any(a => a?.Contains(SparseStream.MediaType, StringComparison.OrdinalIgnoreCase) == true);
        var resp = ctx.Response;
        var w = resp.BodyWriter;
        var buf = ArrayPool<byte>.Shared.Rent(Window);
        try
        {
            if (sparse)
            {
                resp.ContentType = SparseStream.MediaType;
                SparseStream.WriteHeader(w.GetSpan(SparseStream.HeaderSize), size);
                w.Advance(SparseStream.HeaderSize);
                var runs = new List<(long Offset, int Start, int Length)>();
                foreach (var range in dev.GetAllocatedRanges(0, size))
                {
                    for (long pos = range.Offset; pos < range.End; pos += Window)
                    {
                        int len = (int)Math.Min(Window, range.End - pos);
                        dev.Read(pos, buf.AsSpan(0, len));
                        runs.Clear();
                        var basePos = pos;
                        SparseStream.ForEachNonZeroRun(pos, buf.AsSpan(0, len), Block, (o, d) => runs.Add((o, (int)(o - basePos), d.Length)));
                        foreach (var (o, start, l) in runs)
                        {
                            SparseStream.WriteRecordHeader(w.GetSpan(SparseStream.RecordHeaderSize), (ulong)o, l);
                            w.Advance(SparseStream.RecordHeaderSize);
                            w.Write(buf.AsSpan(start, l));
                        }
                        await w.FlushAsync(ct);
                    }
                }
                SparseStream.WriteRecordHeader(w.GetSpan(SparseStream.RecordHeaderSize), SparseStream.EndMarker, 0);
                w.Advance(SparseStream.RecordHeaderSize);
            }
            else
            {
                resp.ContentType = "application/octet-stream";
                resp.ContentLength = size;
                for (long pos = 0; pos < size; pos += Window)
                {
                    int len = (int)Math.Min(Window, size - pos);
                    dev.Read(pos, buf.AsSpan(0, len));
                    await w.WriteAsync(buf.AsMemory(0, len), ct);
                }
            }
            await w.FlushAsync(ct);
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }
}
