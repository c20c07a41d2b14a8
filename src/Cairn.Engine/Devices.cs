using System.Diagnostics.CodeAnalysis;
using Cairn.Core;
using Cairn.Core.Storage;

namespace Cairn.Engine;

/// <summary>Shared argument checks and error mapping of the block devices.</summary>
internal static class DeviceChecks
{
    public const int Sector = 512;

    public static void Range(long offset, long length, long size)
    {
        if (offset < 0 || length < 0 || (offset % Sector) != 0 || (length % Sector) != 0)
            ThrowInvalid(offset, length);
        if (offset + length > size || offset + length < 0)
            throw CairnException.Invalid($"range [{offset}, {offset + length}) is beyond the end of the device ({size} bytes)");
    }

    [DoesNotReturn]
    private static void ThrowInvalid(long offset, long length) =>
        throw CairnException.Invalid($"offset {offset} and length {length} must be non-negative multiples of {Sector}");

    [DoesNotReturn]
    public static void ThrowGone(string what) => throw CairnException.NotFound($"{what} was destroyed");
}

/// <summary>Read/write I/O on a volume.</summary>
internal sealed class VolumeDevice(EmbeddedEngine engine, Dataset ds) : IBlockDevice
{
    private volatile bool _disposed;

    public Guid Id => ds.Id;
    public long Size => Volatile.Read(ref ds.Size);
    public int SectorSize => DeviceChecks.Sector;
    public int Granularity => BlockMap.BlockSize;
    public bool ReadOnly => false;

    private void Check()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (ds.Destroyed) DeviceChecks.ThrowGone("volume " + ds.Name);
    }

    /// <summary>Registers as a writer on the current view (a snapshot waits for registered writers).</summary>
    private View Enter()
    {
        var spin = new SpinWait();
        while (true)
        {
            Check();
            var v = Volatile.Read(ref ds.View)!;
            Interlocked.Increment(ref v.Active);
            if (Volatile.Read(ref v.Retired) == 0) return v;
            Interlocked.Decrement(ref v.Active);
            spin.SpinOnce();
        }
    }

    public void Read(long offset, Span<byte> buffer)
    {
        DeviceChecks.Range(offset, buffer.Length, Size);
        while (true)
        {
            Check();
            var v = Volatile.Read(ref ds.View)!;
            try
            {
                DataPath.Read(v.Top, v.BaseIndex, offset, buffer);
                return;
            }
            catch (ObjectDisposedException) when (ds.Destroyed)
            {
                DeviceChecks.ThrowGone("volume " + ds.Name);
            }
            catch (ObjectDisposedException) when (Volatile.Read(ref ds.View) != v)
            {
                // A rollback replaced the view and closed its old top under this read: read the new one.
            }
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> data, bool fua)
    {
        DeviceChecks.Range(offset, data.Length, Size);
        var v = Enter();
        try
        {
            DataPath.Write(v.Top, v.BaseIndex, offset, data);
        }
        finally
        {
            Interlocked.Decrement(ref v.Active);
        }
        if (fua) Flush();
    }

    public void Flush() => Flush(sync: true);

    public void Checkpoint() => Flush(sync: false);

    private void Flush(bool sync)
    {
        Check();
        var top = Volatile.Read(ref ds.View)!.Top;
        top.Flush(sync);
        // A snapshot that froze the previous top may still be making it durable: wait for it (its lock) and check.
        for (var l = top.Parent; l is not null && l.Owner == ds.Key && !l.Sealed; l = l.Parent) l.Flush(sync);
        if (sync) engine.EnsureCommitted();
    }

    public void WriteZeroes(long offset, long length, bool unmap) => Zero(offset, length);

    public void Discard(long offset, long length) => Zero(offset, length);

    private void Zero(long offset, long length)
    {
        DeviceChecks.Range(offset, length, Size);
        if (length == 0) return;
        var v = Enter();
        try
        {
            DataPath.Zero(v.Top, v.BaseIndex, offset, length);
        }
        finally
        {
            Interlocked.Decrement(ref v.Active);
        }
    }

    public IReadOnlyList<ByteRange> GetAllocatedRanges(long offset, long length)
    {
        long size = Size;
        if (offset < 0 || length < 0) throw CairnException.Invalid("offset and length must be non-negative");
        length = Math.Min(length, Math.Max(0, size - offset));
        Check();
        var v = Volatile.Read(ref ds.View)!;
        return DataPath.Allocated(v.Top, v.BaseIndex, offset, length);
    }

    public void Dispose() => _disposed = true;
}

/// <summary>Read-only I/O on a snapshot.</summary>
internal sealed class SnapshotDevice(Snapshot snap) : IBlockDevice
{
    private volatile bool _disposed;

    public Guid Id => snap.Id;
    public long Size => snap.Size;
    public int SectorSize => DeviceChecks.Sector;
    public int Granularity => BlockMap.BlockSize;
    public bool ReadOnly => true;

    private void Check()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (snap.Destroyed) DeviceChecks.ThrowGone("snapshot " + snap.FullName);
    }

    public void Read(long offset, Span<byte> buffer)
    {
        DeviceChecks.Range(offset, buffer.Length, Size);
        Check();
        try
        {
            DataPath.Read(null, snap.Layer.Index, offset, buffer);
        }
        catch (ObjectDisposedException) when (snap.Destroyed)
        {
            DeviceChecks.ThrowGone("snapshot " + snap.FullName);
        }
    }

    [DoesNotReturn]
    private void ThrowReadOnly() => throw new CairnException(ErrorKind.Forbidden, $"snapshot {snap.FullName} is read-only");

    public void Write(long offset, ReadOnlySpan<byte> data, bool fua) => ThrowReadOnly();
    public void WriteZeroes(long offset, long length, bool unmap) => ThrowReadOnly();
    public void Discard(long offset, long length) => ThrowReadOnly();
    public void Flush() => Check();

    public IReadOnlyList<ByteRange> GetAllocatedRanges(long offset, long length)
    {
        if (offset < 0 || length < 0) throw CairnException.Invalid("offset and length must be non-negative");
        length = Math.Min(length, Math.Max(0, Size - offset));
        Check();
        return DataPath.Allocated(null, snap.Layer.Index, offset, length);
    }

    public void Dispose() => _disposed = true;
}
