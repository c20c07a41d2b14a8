using Cairn.Core.Storage;

namespace Cairn.Iscsi.Tests.Scsi;

/// <summary>
/// A thin in-memory <see cref="IBlockDevice"/>: chunks of <see cref="Granularity"/> bytes are allocated on first write
/// and freed by whole-chunk discards. One lock; tests, not speed.
/// </summary>
public sealed class MemoryBlockDevice(long size, int granularity = 4096, bool readOnly = false, Guid? id = null) : IBlockDevice
{
    private readonly Dictionary<long, byte[]> _chunks = [];
    private readonly Lock _gate = new();
    private long _size = size;

    public Guid Id { get; } = id ?? Guid.Parse("5f0c1e2d-3a4b-4c5d-8e6f-708192a3b4c5");
    public long Size => Volatile.Read(ref _size);
    public int SectorSize => 512;
    public int Granularity { get; } = granularity;
    public bool ReadOnly { get; } = readOnly;
    public int Flushes;
    public int FuaWrites;
    public int Writes;

    public void Resize(long newSize) => Volatile.Write(ref _size, newSize);

    public long AllocatedBytes
    {
        get { lock (_gate) return (long)_chunks.Count * Granularity; }
    }

    private void CheckRange(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset + length > Size || offset % 512 != 0 || length % 512 != 0)
            throw new ArgumentOutOfRangeException(nameof(offset), $"{offset}+{length} outside {Size}");
    }

    public void Read(long offset, Span<byte> buffer)
    {
        CheckRange(offset, buffer.Length);
        lock (_gate)
        {
            for (int done = 0; done < buffer.Length;)
            {
                long pos = offset + done;
                long chunk = pos / Granularity;
                int inChunk = (int)(pos % Granularity);
                int n = Math.Min(Granularity - inChunk, buffer.Length - done);
                if (_chunks.TryGetValue(chunk, out var c)) c.AsSpan(inChunk, n).CopyTo(buffer.Slice(done, n));
                else buffer.Slice(done, n).Clear();
                done += n;
            }
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> data, bool fua)
    {
        if (ReadOnly) throw new InvalidOperationException("read-only");
        CheckRange(offset, data.Length);
        lock (_gate)
        {
            Writes++;
            if (fua) FuaWrites++;
            for (int done = 0; done < data.Length;)
            {
                long pos = offset + done;
                long chunk = pos / Granularity;
                int inChunk = (int)(pos % Granularity);
                int n = Math.Min(Granularity - inChunk, data.Length - done);
                if (!_chunks.TryGetValue(chunk, out var c)) _chunks[chunk] = c = new byte[Granularity];
                data.Slice(done, n).CopyTo(c.AsSpan(inChunk, n));
                done += n;
            }
        }
    }

    public void Flush() => Interlocked.Increment(ref Flushes);

    public void WriteZeroes(long offset, long length, bool unmap)
    {
        if (unmap) { Discard(offset, length); return; }
        CheckRange(offset, length);
        var zeros = new byte[Math.Min(length, 1 << 20)];
        for (long done = 0; done < length; done += zeros.Length)
            Write(offset + done, zeros.AsSpan(0, (int)Math.Min(zeros.Length, length - done)), fua: false);
    }

    public void Discard(long offset, long length)
    {
        if (ReadOnly) throw new InvalidOperationException("read-only");
        CheckRange(offset, length);
        lock (_gate)
        {
            long end = offset + length;
            for (long pos = offset; pos < end;)
            {
                long chunk = pos / Granularity;
                long cs = chunk * Granularity, ce = cs + Granularity;
                long s = Math.Max(pos, cs), e = Math.Min(end, ce);
                if (_chunks.TryGetValue(chunk, out var c))
                {
                    if (s == cs && e == ce) _chunks.Remove(chunk);
                    else c.AsSpan((int)(s - cs), (int)(e - s)).Clear();
                }
                pos = e;
            }
        }
    }

    public IReadOnlyList<ByteRange> GetAllocatedRanges(long offset, long length)
    {
        var list = new List<ByteRange>();
        lock (_gate)
        {
            foreach (var chunk in _chunks.Keys.Order())
            {
                long s = Math.Max(chunk * Granularity, offset), e = Math.Min((chunk + 1) * Granularity, offset + length);
                if (s >= e) continue;
                if (list.Count > 0 && list[^1].End == s) list[^1] = new ByteRange(list[^1].Offset, e - list[^1].Offset);
                else list.Add(new ByteRange(s, e - s));
            }
        }
        return list;
    }

    public void Dispose() { }
}
