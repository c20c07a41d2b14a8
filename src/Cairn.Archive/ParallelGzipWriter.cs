using System.Buffers;
using System.IO.Compression;

namespace Cairn.Archive;

/// <summary>
/// gzip on every core: the byte stream is cut into chunks, each compressed as its own gzip member (RFC 1952 §2.2: a
/// gzip file is a series of members, and gzip, GNU tar and Python read them as one stream) by worker tasks, and the
/// members are written in order. At most <c>workers × 2</c> chunks are in flight, so memory stays bounded.
/// With <see cref="ArchiveCompression.None"/> bytes pass straight through (a plain tar).
/// </summary>
internal sealed class ParallelGzipWriter(Stream output, ArchiveCompression compression, int chunkSize, int workers, int level)
    : IAsyncDisposable
{
    private readonly Queue<Task<(byte[] Buffer, int Length)>> _pending = new();
    private byte[]? _chunk;
    private int _used;

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if (compression == ArchiveCompression.None)
        {
            await output.WriteAsync(data, ct);
            return;
        }
        while (data.Length > 0)
        {
            _chunk ??= ArrayPool<byte>.Shared.Rent(chunkSize);
            var n = Math.Min(chunkSize - _used, data.Length);
            data.Span[..n].CopyTo(_chunk.AsSpan(_used));
            _used += n;
            data = data[n..];
            if (_used == chunkSize) await DispatchAsync(ct);
        }
    }

    private async ValueTask DispatchAsync(CancellationToken ct)
    {
        var chunk = _chunk!;
        var used = _used;
        _chunk = null;
        _used = 0;
        _pending.Enqueue(Task.Run(() => Compress(chunk, used, level), ct));
        while (_pending.Count >= workers * 2) await DrainOneAsync(ct);
    }

    private async ValueTask DrainOneAsync(CancellationToken ct)
    {
        var (buf, len) = await _pending.Dequeue();
        try { await output.WriteAsync(buf.AsMemory(0, len), ct); }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }

    private static (byte[], int) Compress(byte[] chunk, int length, int level)
    {
        try
        {
            using var ms = new MemoryStream(length / 2 + 4096);
            using (var gz = new GZipStream(ms, new ZLibCompressionOptions { CompressionLevel = level }, leaveOpen: true))
                gz.Write(chunk, 0, length);
            var result = ArrayPool<byte>.Shared.Rent((int)ms.Length);
            ms.GetBuffer().AsSpan(0, (int)ms.Length).CopyTo(result);
            return (result, (int)ms.Length);
        }
        finally { ArrayPool<byte>.Shared.Return(chunk); }
    }

    /// <summary>Compresses the last partial chunk and writes every member still in flight.</summary>
    public async ValueTask CompleteAsync(CancellationToken ct)
    {
        if (compression == ArchiveCompression.None) return;
        if (_used > 0 || (_pending.Count == 0 && _chunk is null)) { _chunk ??= ArrayPool<byte>.Shared.Rent(chunkSize); await DispatchAsync(ct); }
        while (_pending.Count > 0) await DrainOneAsync(ct);
    }

    public async ValueTask DisposeAsync()
    {
        // After a failure: let the workers finish so their buffers go back to the pool; their results are dropped.
        while (_pending.Count > 0)
        {
            try { var (buf, _) = await _pending.Dequeue(); ArrayPool<byte>.Shared.Return(buf); }
            catch (OperationCanceledException) { }
        }
        if (_chunk is not null) ArrayPool<byte>.Shared.Return(_chunk);
        _chunk = null;
    }
}
