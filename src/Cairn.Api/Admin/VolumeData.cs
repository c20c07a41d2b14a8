using System.Buffers;
using System.IO.Pipelines;
using Cairn.Core;
using Cairn.Core.Services;
using Cairn.Core.Storage;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Win32.SafeHandles;

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

    private sealed record LocalFileRequest(string? Path);

    public static async Task<IResult> ImportAsync(string name, bool? parents, bool? sync, HttpContext ctx, VolumeService svc, ILogger<VolumeService> log, CancellationToken ct)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        Names.ValidateDataset(name);
        if (ctx.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = null;
        var reader = ctx.Request.BodyReader;
        var contentType = ctx.Request.ContentType ?? "";
        bool sparse = contentType.StartsWith(SparseStream.MediaType, StringComparison.OrdinalIgnoreCase);
        bool local = contentType.StartsWith(SparseStream.LocalFileMediaType, StringComparison.OrdinalIgnoreCase);
        long size;
        SafeFileHandle? file = null;
        if (local)
        {
            (file, size) = await OpenLocalFileAsync(ctx, ct);
        }
        else if (sparse)
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
        using var fileLease = file;
        if (size <= 0) throw CairnException.Invalid("the image is empty");
        var volumeSize = (size + 511) & ~511L;

        bool created = false;
        var existing = await svc.GetAsync(name, ct);
        if (existing is null)
        {
            await svc.CreateVolumeAsync(name, volumeSize, parents ?? false, ct: ct);
            created = true;
        }
        else if (existing.Dataset.Kind != DatasetKind.Volume) throw CairnException.Invalid($"{name} is a folder, not a volume");
        else if (existing.Dataset.Size < size)
            throw CairnException.Invalid($"volume {name} ({existing.Dataset.Size} bytes) is smaller than the image ({size} bytes); resize it first");

        long written = 0;
        var dev = await svc.OpenAsync(name, ct: ct);
        bool durable = sync ?? false, flushingInBackground = false;
        try
        {
            var copying = System.Diagnostics.Stopwatch.GetTimestamp();
            written = file is not null ? await ImportFileAsync(file, size, dev, ct)
                : sparse ? await ImportSparseAsync(reader, dev, size, ct) : await ImportRawAsync(reader, dev, size, ct);
            var flushing = System.Diagnostics.Stopwatch.GetTimestamp();
            // Acknowledged means it survives kill -9 of the server: the map reaches the page cache. Stable storage
            // follows right after in the background (which then owns the device), or before the answer with ?sync=true.
            // The fsync runs off the request thread: a slow disk must not hold one of Kestrel's threads.
            if (durable) await BlockingIo.Run(dev.Flush);
            else dev.Checkpoint();
            var ms = (long from, long to) => System.Diagnostics.Stopwatch.GetElapsedTime(from, to).TotalMilliseconds;
            var now = System.Diagnostics.Stopwatch.GetTimestamp();
            log.LogInformation("Imported {Name} from {Source}: {Written} bytes stored of {Size} in {Total:F0} ms (setup {Setup:F0}, copy {Copy:F0}, {Flush} {FlushMs:F0})",
                name, local ? "a server-side file" : "a stream", written, size, ms(started, now), ms(started, copying), ms(copying, flushing),
                durable ? "sync" : "checkpoint", ms(flushing, now));
            if (!durable)
            {
                BlockingIo.Post(() => FlushInBackground(dev, name, log));
                flushingInBackground = true;
            }
        }
        catch when (created)
        {
            dev.Dispose();
            // A failed import into a volume it created leaves nothing behind.
            try { await svc.DestroyAsync(name, recursive: false, ct: CancellationToken.None); } catch (CairnException) { }
            throw;
        }
        finally
        {
            if (!flushingInBackground) dev.Dispose();
        }
        var v = (await svc.GetAsync(name, CancellationToken.None))!;
        return Results.Json(new { volume = VolumeDto.From(v), image_size = size, written, created, synced = durable }, Json.Options, statusCode: created ? 201 : 200);
    }

    private static void FlushInBackground(IBlockDevice dev, string name, ILogger log)
    {
        using (dev)
        {
            try { dev.Flush(); }
            // Destroyed or shut down meanwhile: nothing left to make durable.
            catch (Exception e) when (e is CairnException or ObjectDisposedException) { log.LogDebug("Background flush of {Name} skipped: {Reason}", name, e.Message); }
            catch (IOException e) { log.LogError("Background flush of imported volume {Name} failed: {Reason}", name, e.Message); }
        }
    }

    /// <summary>Opens the file a local peer names; anyone else is refused, and only regular files are read.</summary>
    private static async Task<(SafeFileHandle File, long Size)> OpenLocalFileAsync(HttpContext ctx, CancellationToken ct)
    {
        if (!LocalPeer.MayReadServerFiles(ctx))
            throw new CairnException(ErrorKind.Forbidden,
                "an import from a server-side file is only accepted on the server's Unix socket, from its own user or root; stream the image instead");
        var body = await Json.ReadAsync<LocalFileRequest>(ctx.Request, ct);
        var path = body.Path;
        if (string.IsNullOrEmpty(path) || !Path.IsPathFullyQualified(path)) throw CairnException.Invalid("path: an absolute file path is required");
        if (!File.Exists(path)) throw CairnException.Invalid($"path: {path} is not a regular file");
        try
        {
            var fh = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, FileOptions.SequentialScan);
            return (fh, RandomAccess.GetLength(fh));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw CairnException.Invalid($"path: cannot read {path}: {e.Message}");
        }
    }

    /// <summary>
    /// Copies a file's non-zero blocks into the device on a few threads, a 1 MiB chunk at a time: holes are skipped
    /// unread, zero blocks are read but not stored.
    /// </summary>
    private static async Task<long> ImportFileAsync(SafeFileHandle file, long size, IBlockDevice dev, CancellationToken ct)
    {
        const long chunk = 1 << 20;
        // Chunks are handed out in file order from the regions as they are found (memory stays flat for any size).
        using var regions = SparseFile.DataRegions(file, size).GetEnumerator();
        var gate = new Lock();
        long cursor = 0, regionEnd = 0;
        bool NextChunk(out ByteRange c)
        {
            lock (gate)
            {
                while (cursor >= regionEnd)
                {
                    if (!regions.MoveNext()) { c = default; return false; }
                    cursor = regions.Current.Offset & ~(long)(Block - 1);
                    regionEnd = regions.Current.End;
                }
                c = new ByteRange(cursor, Math.Min(chunk, regionEnd - cursor));
                cursor = c.End;
                return true;
            }
        }
        long written = 0;
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        void Work()
        {
            var buf = ArrayPool<byte>.Shared.Rent(Window);
            try
            {
                while (NextChunk(out var c))
                {
                    failed.Token.ThrowIfCancellationRequested();
                    for (long pos = c.Offset; pos < c.End; pos += Window)
                    {
                        int want = (int)Math.Min(Window, c.End - pos);
                        var span = buf.AsSpan(0, want);
                        for (int got = 0; got < want;)
                        {
                            int n = RandomAccess.Read(file, span[got..], pos + got);
                            if (n <= 0) throw CairnException.Conflict($"the file shrank during the import (at byte {pos + got} of {size})");
                            got += n;
                        }
                        Interlocked.Add(ref written, StoreNonZero(dev, pos, buf, want));
                    }
                }
            }
            catch
            {
                failed.Cancel();
                throw;
            }
            finally { ArrayPool<byte>.Shared.Return(buf); }
        }
        int workers = Math.Clamp(Environment.ProcessorCount, 1, 4);
        var tasks = new Task[workers];
        for (int w = 0; w < workers; w++) tasks[w] = Task.Factory.StartNew(Work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try { await Task.WhenAll(tasks); }
        catch
        {
            // Report the worker that failed, not the others it stopped.
            var cause = tasks.Where(t => t.IsFaulted).Select(t => t.Exception!.InnerException!).FirstOrDefault(e => e is not OperationCanceledException);
            if (cause is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(cause);
            throw;
        }
        return Interlocked.Read(ref written);
    }

    /// <summary>Writes the non-zero blocks of <c>buf[0..length)</c> (padded to a sector) at <paramref name="pos"/>.</summary>
    private static long StoreNonZero(IBlockDevice dev, long pos, byte[] buf, int length)
    {
        if (length % 512 != 0)
        {
            var padded = (length + 511) & ~511;
            buf.AsSpan(length, padded - length).Clear();
            length = padded;
        }
        long stored = 0;
        SparseStream.ForEachNonZeroRun(pos, buf.AsSpan(0, length), Block, (o, d) => { dev.Write(o, d, fua: false); stored += d.Length; });
        return stored;
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
                written += StoreNonZero(dev, pos, buf, want);
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
            dev = await svc.OpenAsync(ds, snap, ct);
        }
        else
        {
            Names.ValidateDataset(name);
            if (await svc.GetDatasetAsync(name, ct) is not { Kind: DatasetKind.Volume }) throw CairnException.NotFound($"volume {name} does not exist");
            dev = await svc.OpenAsync(name, ct: ct);
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
