namespace Cairn.Core.Storage;

/// <summary>A byte range <c>[Offset, Offset+Length)</c>.</summary>
public readonly record struct ByteRange(long Offset, long Length)
{
    public long End => Offset + Length;
}

/// <summary>
/// Block I/O on one volume or snapshot. Offsets and lengths are in bytes and must be multiples of
/// <see cref="SectorSize"/>. Calls are synchronous (page-cache hits are microseconds; a thread hop costs more)
/// and thread-safe: several sessions may use one device at once.
/// </summary>
public interface IBlockDevice : IDisposable
{
    /// <summary>Engine-unique id of what this device shows (stable across restarts; used for SCSI identifiers).</summary>
    Guid Id { get; }

    /// <summary>Size in bytes; may grow while open after a resize.</summary>
    long Size { get; }

    /// <summary>Smallest I/O unit, 512.</summary>
    int SectorSize { get; }

    /// <summary>Allocation unit: discards smaller than this may only zero, not free.</summary>
    int Granularity { get; }

    /// <summary>Snapshots are read-only.</summary>
    bool ReadOnly { get; }

    /// <summary>Reads <c>buffer.Length</c> bytes at <paramref name="offset"/>. Unwritten ranges read as zeros.</summary>
    void Read(long offset, Span<byte> buffer);

    /// <summary>Writes; with <paramref name="fua"/> the data (and any allocation it needed) is durable on return.</summary>
    void Write(long offset, ReadOnlySpan<byte> data, bool fua);

    /// <summary>Makes every write acknowledged before this call durable.</summary>
    void Flush();

    /// <summary>
    /// Makes every write acknowledged before this call survive a crash of this process (kill -9), though not of the
    /// machine: it reaches the operating system's cache without waiting for stable storage. Cheaper than
    /// <see cref="Flush"/>, which a device may always do instead.
    /// </summary>
    void Checkpoint() => Flush();

    /// <summary>Makes the range read as zeros. With <paramref name="unmap"/> the space may be freed.</summary>
    void WriteZeroes(long offset, long length, bool unmap);

    /// <summary>Discards (UNMAP/TRIM): the range reads as zeros afterwards and its whole chunks are freed.</summary>
    void Discard(long offset, long length);

    /// <summary>
    /// Allocated (stored) ranges intersecting <c>[offset, offset+length)</c>, sorted, merged, clipped to the window.
    /// Everything else reads as zeros.
    /// </summary>
    IReadOnlyList<ByteRange> GetAllocatedRanges(long offset, long length);

    /// <summary>
    /// The async path, for callers that must not block (HTTP handlers, jobs, transfers). Reads and writes that hit the
    /// page cache complete synchronously by default (a thread hop costs more than the copy); a device whose I/O may
    /// wait on a daemon or the network overrides them. Cancellation is checked before the I/O starts.
    /// </summary>
    ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct = default)
    {
        ct.ThrowIfCancellationRequested();
        Read(offset, buffer.Span);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc cref="ReadAsync"/>
    ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken ct = default)
    {
        ct.ThrowIfCancellationRequested();
        if (fua) return new ValueTask(BlockingIo.Run(() => Write(offset, data.Span, fua: true)));
        Write(offset, data.Span, fua: false);
        return ValueTask.CompletedTask;
    }

    /// <summary><see cref="Flush"/> on Cairn's blocking-I/O threads: an fsync never holds a request thread.</summary>
    ValueTask FlushAsync(CancellationToken ct = default)
    {
        ct.ThrowIfCancellationRequested();
        return new ValueTask(BlockingIo.Run(Flush));
    }
}
