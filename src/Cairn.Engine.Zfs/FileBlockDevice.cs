using System.Diagnostics.CodeAnalysis;
using Cairn.Core;
using Cairn.Core.Storage;
using Microsoft.Win32.SafeHandles;

namespace Cairn.Engine.Zfs;

/// <summary>
/// Block I/O on a volume's image file (file mode) or zvol device: pread/pwrite through <see cref="RandomAccess"/>,
/// flush = fsync. Writes reach the kernel (and through FUSE, the zfs-fuse daemon) before they return, so a write
/// survives a kill -9 of Cairn without a flush; a flush makes it survive the machine.
/// </summary>
internal sealed class FileBlockDevice : IBlockDevice
{
    private const int Sector = 512;
    private static readonly byte[] Zeros = new byte[1 << 20];
    private readonly SafeFileHandle _file;
    private readonly SizeCell _size;
    private readonly Action? _onWrite;
    private readonly string _what;
    private volatile bool _cannotPunch;
    private volatile bool _disposed;

    public FileBlockDevice(string path, Guid id, SizeCell size, bool readOnly, string what, int granularity, Action? onWrite)
    {
        _file = File.OpenHandle(path, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite, FileShare.ReadWrite);
        Id = id;
        _size = size;
        ReadOnly = readOnly;
        _what = what;
        Granularity = granularity;
        _onWrite = onWrite;
    }

    public Guid Id { get; }
    public long Size => Volatile.Read(ref _size.Value);
    public int SectorSize => Sector;
    public int Granularity { get; }
    public bool ReadOnly { get; }

    private void Check(long offset, long length, bool write)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (offset < 0 || length < 0 || offset % Sector != 0 || length % Sector != 0)
            throw CairnException.Invalid($"offset {offset} and length {length} must be non-negative multiples of {Sector}");
        if (offset + length > Size || offset + length < 0)
            throw CairnException.Invalid($"range [{offset}, {offset + length}) is beyond the end of the device ({Size} bytes)");
        if (write && ReadOnly) ThrowReadOnly();
    }

    [DoesNotReturn]
    private void ThrowReadOnly() => throw new CairnException(ErrorKind.Forbidden, $"{_what} is read-only");

    public void Read(long offset, Span<byte> buffer)
    {
        Check(offset, buffer.Length, write: false);
        while (buffer.Length > 0)
        {
            int n = RandomAccess.Read(_file, buffer, offset);
            if (n == 0)
            {
                buffer.Clear(); // past the end of a file shorter than the volume: zeros, as a sparse tail would read
                return;
            }
            buffer = buffer[n..];
            offset += n;
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> data, bool fua)
    {
        Check(offset, data.Length, write: true);
        RandomAccess.Write(_file, data, offset);
        _onWrite?.Invoke();
        if (fua) Native.Sync(_file);
    }

    public void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!ReadOnly) Native.Sync(_file);
    }

    /// <summary>pwrite already handed the data to the kernel: a kill -9 of this process cannot lose it.</summary>
    public void Checkpoint() => ObjectDisposedException.ThrowIf(_disposed, this);

    public void WriteZeroes(long offset, long length, bool unmap) => Zero(offset, length);

    public void Discard(long offset, long length) => Zero(offset, length);

    private void Zero(long offset, long length)
    {
        Check(offset, length, write: true);
        if (length == 0) return;
        if (!_cannotPunch && Native.TryPunchHole(_file, offset, length))
        {
            _onWrite?.Invoke();
            return;
        }
        // zfs-fuse cannot punch holes: zeros are written instead, and compression=zle stores whole zero records as holes.
        _cannotPunch = true;
        for (long done = 0; done < length;)
        {
            int n = (int)Math.Min(Zeros.Length, length - done);
            RandomAccess.Write(_file, Zeros.AsSpan(0, n), offset + done);
            done += n;
        }
        _onWrite?.Invoke();
    }

    public IReadOnlyList<ByteRange> GetAllocatedRanges(long offset, long length)
    {
        Check(offset, length, write: false);
        var result = new List<ByteRange>();
        long end = offset + length, pos = offset;
        // SEEK_DATA/SEEK_HOLE: FUSE passes no lseek to zfs-fuse, so the kernel reports the whole file as data there;
        // that is correct (allocated is a superset of what was written), only not minimal.
        while (pos < end)
        {
            long data = Native.NextData(_file, pos);
            if (data < 0 || data >= end) break;
            long hole = Native.NextHole(_file, data);
            long stop = Math.Min(hole < 0 ? end : hole, end);
            if (stop > data) result.Add(new ByteRange(data, stop - data));
            pos = stop;
        }
        return result;
    }

    public void Dispose()
    {
        _disposed = true;
        _file.Dispose();
    }
}
