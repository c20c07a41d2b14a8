using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Compression;

namespace Cairn.Archive;

/// <summary>
/// gzip on every core: the byte stream is cut into chunks, each compressed as its own gzip member (RFC 1952 §2.2: a
/// gzip file is a series of members, and gzip, GNU tar and Python read them as one stream) by worker tasks, and the
/// members are written in order. At most <c>workers × 2</c> chunks are in flight, so memory stays bounded.
/// With <see cref="ArchiveCompression.None"/> bytes pass straight through (a plain tar).
/// </summary>
/// <remarks>
/// Bulk data should be read straight into the chunk (<see cref="GetBuffer"/>, <see cref="AdvanceAsync"/>): the only copies
/// left are zlib's own (its window) and the kernel's write. Each member is compressed into a pooled buffer sized for
/// deflate's worst case, so nothing grows or is copied out of a MemoryStream.
/// </remarks>
internal sealed class ParallelGzipWriter(Stream output, ArchiveCompression compression, int chunkSize, int workers, int level,
    bool storeIncompressible = false) : IAsyncDisposable
{
    // The incompressibility probe: up to this many samples of SampleSize bytes, spread over the chunk. 32 KiB is
    // deflate's window, so a sample sees every match level 6 could use inside it.
    private const int Samples = 4;
    private const int SampleSize = 32 << 10;

    /// <summary>A chunk is stored when level 1 shrinks no sample by more than this fraction.</summary>
    private const double MinSaving = 0.02;

    // Chunks in flight per worker (about 8 × (1 MiB in + ≤ 1 MiB out)).
    private const int InFlightPerWorker = 8;

    private long _stored;

    /// <summary>Members written as stored deflate blocks because the probe found them incompressible.</summary>
    public long StoredChunks => Interlocked.Read(ref _stored);

    // Everything after the caller's read runs on threads of the export's own, as in pigz: compression on `workers`
    // threads, and one writer that waits for each member in order and writes it. On the shared thread pool, each
    // member's completion and each file write was a hop the next chunk waited for; on a loaded machine a hop waits
    // tens of milliseconds for a core, and the workers ran dry (measured under load 7: 0.9-1.1 of 2 cores busy against
    // pigz's 1.4-1.8). Now the caller only waits for a free slot, and only when 8 chunks per worker are in flight.
    private readonly BlockingCollection<Job> _jobs = new();
    private readonly BlockingCollection<Job> _order = new();
    private readonly SemaphoreSlim _slots = new(workers * InFlightPerWorker);
    private readonly TaskCompletionSource _written = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Thread[]? _threads;
    private volatile Exception? _writeError;
    private volatile bool _abandoned; // disposed without CompleteAsync: what is still queued is dropped, not written

    private sealed record Job(byte[] Chunk, int Length, TaskCompletionSource<(byte[] Buffer, int Length)> Done);
    private byte[]? _chunk;
    private int _used;

    /// <summary>Free space in the current chunk (at least one byte); fill some of it, then call <see cref="AdvanceAsync"/>.</summary>
    public Memory<byte> GetBuffer()
    {
        _chunk ??= ArrayPool<byte>.Shared.Rent(chunkSize);
        return _chunk.AsMemory(_used, chunkSize - _used);
    }

    /// <summary>Marks <paramref name="count"/> bytes of <see cref="GetBuffer"/> as written.</summary>
    public ValueTask AdvanceAsync(int count, CancellationToken ct)
    {
        if (count < 0 || _chunk is null || count > chunkSize - _used) throw new ArgumentOutOfRangeException(nameof(count));
        _used += count;
        if (_used < chunkSize) return ValueTask.CompletedTask;
        return compression == ArchiveCompression.None ? FlushPlainAsync(ct) : DispatchAsync(ct);
    }

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        while (data.Length > 0)
        {
            var space = GetBuffer();
            var n = Math.Min(space.Length, data.Length);
            data.Span[..n].CopyTo(space.Span);
            data = data[n..];
            await AdvanceAsync(n, ct);
        }
    }

    private async ValueTask FlushPlainAsync(CancellationToken ct)
    {
        await output.WriteAsync(_chunk.AsMemory(0, _used), ct);
        _used = 0;
    }

    private async ValueTask DispatchAsync(CancellationToken ct)
    {
        ThrowIfWriteFailed();
        await _slots.WaitAsync(ct); // completes at once unless the pipeline is full
        var chunk = _chunk!;
        var used = _used;
        _chunk = null;
        _used = 0;
        if (_threads is null)
        {
            _threads = new Thread[workers + 1];
            for (var i = 0; i < workers; i++) _threads[i] = new Thread(Work) { IsBackground = true, Name = "archive gzip" };
            _threads[workers] = new Thread(WriteMembers) { IsBackground = true, Name = "archive write" };
            foreach (var t in _threads) t.Start();
        }
        var job = new Job(chunk, used, new TaskCompletionSource<(byte[] Buffer, int Length)>());
        _order.Add(job, CancellationToken.None);
        _jobs.Add(job, CancellationToken.None);
    }

    private void ThrowIfWriteFailed()
    {
        if (_writeError is { } e) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw();
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031", Justification = "The first failure is kept and rethrown on the export's path; later members are dropped.")]
    private void WriteMembers()
    {
        foreach (var job in _order.GetConsumingEnumerable())
        {
            try
            {
                var (buf, len) = job.Done.Task.GetAwaiter().GetResult();
                try
                {
                    if (_writeError is null && !_abandoned) output.Write(buf, 0, len);
                }
                finally { ArrayPool<byte>.Shared.Return(buf); }
            }
            catch (Exception e)
            {
                _writeError ??= e;
            }
            finally { _slots.Release(); }
        }
        _written.SetResult();
    }

    /// <summary>
    /// An upper bound of one member's size: deflate's worst case is stored blocks, 5 bytes per 64 KiB block (zlib's
    /// deflateBound adds less), plus gzip's 10-byte header and 8-byte trailer; the rest is slack.
    /// </summary>
    internal static int MemberBound(int length) => length + (length >> 8) + 1024;

    private static (byte[], int) Compress(byte[] chunk, int length, int level)
    {
        var result = ArrayPool<byte>.Shared.Rent(MemberBound(length));
        try
        {
            // A MemoryStream over a fixed array cannot grow: the bound above makes that impossible, and if zlib ever
            // wrote more the NotSupportedException would fail the export rather than truncate a member.
            using var ms = new MemoryStream(result, 0, result.Length, writable: true);
            using (var gz = new GZipStream(ms, new ZLibCompressionOptions { CompressionLevel = level }, leaveOpen: true))
                gz.Write(chunk, 0, length);
            return (result, (int)ms.Position);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(result);
            throw;
        }
        finally { ArrayPool<byte>.Shared.Return(chunk); }
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031", Justification = "A member's failure is handed to the writer, which rethrows it on the export's path.")]
    private void Work()
    {
        foreach (var job in _jobs.GetConsumingEnumerable())
        {
            try
            {
                var l = level;
                if (storeIncompressible && LooksIncompressible(job.Chunk.AsSpan(0, job.Length)))
                {
                    l = 0; // zlib level 0: stored blocks, a copy and the CRC
                    Interlocked.Increment(ref _stored);
                }
                job.Done.SetResult(Compress(job.Chunk, job.Length, l));
            }
            catch (Exception e)
            {
                job.Done.SetException(e);
            }
        }
    }

    /// <summary>
    /// True when deflate would only waste time on <paramref name="chunk"/>: level 1 saves less than 2 % on each of up to
    /// four 32 KiB samples spread over it (encrypted or already compressed data). The first sample that does compress
    /// ends the probe, so compressible data pays for one small level-1 pass (about 1 % of a level-6 chunk). A chunk
    /// whose samples all miss its compressible parts is stored: larger, never wrong.
    /// </summary>
    internal static bool LooksIncompressible(ReadOnlySpan<byte> chunk)
    {
        if (chunk.Length < Samples * SampleSize) return false;
        var scratch = ArrayPool<byte>.Shared.Rent(MemberBound(SampleSize));
        try
        {
            var step = (chunk.Length - SampleSize) / (Samples - 1);
            for (var i = 0; i < Samples; i++)
            {
                var sample = chunk.Slice(i * step, SampleSize);
                using var ms = new MemoryStream(scratch, 0, scratch.Length, writable: true);
                using (var d = new DeflateStream(ms, new ZLibCompressionOptions { CompressionLevel = 1 }, leaveOpen: true))
                    d.Write(sample);
                if (ms.Position < SampleSize * (1 - MinSaving)) return false;
            }
            return true;
        }
        finally { ArrayPool<byte>.Shared.Return(scratch); }
    }

    /// <summary>Compresses the last partial chunk and writes every member still in flight.</summary>
    public async ValueTask CompleteAsync(CancellationToken ct)
    {
        if (compression == ArchiveCompression.None)
        {
            if (_used > 0) await FlushPlainAsync(ct);
            return;
        }
        if (_used > 0 || _threads is null) { _chunk ??= ArrayPool<byte>.Shared.Rent(chunkSize); await DispatchAsync(ct); }
        _order.CompleteAdding();
        await _written.Task.WaitAsync(ct);
        ThrowIfWriteFailed();
    }

    public async ValueTask DisposeAsync()
    {
        // After a failure: the workers finish what was queued and the writer drops it, so every buffer goes back to
        // the pool and every thread ends before the caller deletes the temp file.
        _jobs.CompleteAdding();
        if (!_order.IsAddingCompleted)
        {
            _abandoned = true;
            _order.CompleteAdding();
        }
        if (_threads is not null)
        {
            await _written.Task;
            foreach (var t in _threads) t.Join();
        }
        _jobs.Dispose();
        _order.Dispose();
        _slots.Dispose();
        if (_chunk is not null) ArrayPool<byte>.Shared.Return(_chunk);
        _chunk = null;
    }
}
