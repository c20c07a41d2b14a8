using Cairn.Core.Storage;
using Microsoft.Win32.SafeHandles;

namespace Cairn.Archive;

/// <summary>What an export reads: a stable (snapshot) view of an image. Thread-safe reads.</summary>
public interface IImageSource
{
    /// <summary>Size of the image in bytes.</summary>
    long Size { get; }

    /// <summary>Allocated ranges in <c>[offset, offset+length)</c>, sorted; everything else reads as zeros.</summary>
    IReadOnlyList<ByteRange> GetAllocatedRanges(long offset, long length);

    /// <summary>Reads <c>buffer.Length</c> bytes at <paramref name="offset"/>.</summary>
    void Read(long offset, Span<byte> buffer);
}

/// <summary>An <see cref="IBlockDevice"/> (a snapshot's, for a consistent export) as an image source.</summary>
public sealed class BlockDeviceImageSource(IBlockDevice device) : IImageSource
{
    public long Size => device.Size;
    public IReadOnlyList<ByteRange> GetAllocatedRanges(long offset, long length) => device.GetAllocatedRanges(offset, length);
    public void Read(long offset, Span<byte> buffer) => device.Read(offset, buffer);
}

/// <summary>A (sparse) file as an image source: its data regions come from SEEK_DATA/SEEK_HOLE.</summary>
public sealed class FileImageSource : IImageSource, IDisposable
{
    private readonly SafeFileHandle _handle;

    public FileImageSource(string path)
    {
        _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        Size = RandomAccess.GetLength(_handle);
    }

    public long Size { get; }

    public IReadOnlyList<ByteRange> GetAllocatedRanges(long offset, long length)
    {
        var end = offset + length;
        return [.. SparseFile.DataRegions(_handle, Size)
            .Where(r => r.End > offset && r.Offset < end)
            .Select(r => new ByteRange(Math.Max(r.Offset, offset), Math.Min(r.End, end) - Math.Max(r.Offset, offset)))];
    }

    public void Read(long offset, Span<byte> buffer)
    {
        var n = RandomAccess.Read(_handle, buffer, offset);
        buffer[n..].Clear(); // past the end: zeros
    }

    public void Dispose() => _handle.Dispose();
}
