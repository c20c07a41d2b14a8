using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Cairn.Core.Storage;

/// <summary>Where a file holds data: SEEK_DATA/SEEK_HOLE, so that holes are never read.</summary>
public static partial class SparseFile
{
    private const int SeekData = 3, SeekHole = 4;
    private const int ENXIO = 6;

    [LibraryImport("libc", SetLastError = true)]
    private static partial long lseek(int fd, long offset, int whence);

    /// <summary>Data regions of a file, in order, or the whole file where the filesystem can't tell.</summary>
    public static IEnumerable<ByteRange> DataRegions(SafeFileHandle fh, long size)
    {
        var fd = (int)fh.DangerousGetHandle();
        long pos = 0;
        while (pos < size)
        {
            var data = lseek(fd, pos, SeekData);
            if (data < 0)
            {
                // ENXIO: no data after pos. Anything else (EINVAL: not supported) → the rest is data.
                if (Marshal.GetLastPInvokeError() == ENXIO) yield break;
                yield return new ByteRange(pos, size - pos);
                yield break;
            }
            if (data >= size) yield break;
            var hole = lseek(fd, data, SeekHole);
            if (hole < 0 || hole > size) hole = size;
            yield return new ByteRange(data, hole - data);
            pos = hole;
        }
    }
}
