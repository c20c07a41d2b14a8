using System.IO.Pipelines;
using Cairn.Core.Storage;
using Microsoft.Win32.SafeHandles;

namespace Cairn.Core.Transfer;

/// <summary>Image files on either side of a transfer: a file sent in the sparse format, and one received keeping holes.</summary>
public static class ImageFiles
{
    /// <summary>Opens a regular file to read an image from, naming the path in any error.</summary>
    public static SafeFileHandle OpenForRead(string path)
    {
        if (string.IsNullOrEmpty(path) || !Path.IsPathFullyQualified(path)) throw CairnException.Invalid("path: an absolute file path is required");
        if (!File.Exists(path)) throw CairnException.Invalid($"path: {path} is not a regular file");
        try
        {
            return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw CairnException.Invalid($"path: cannot read {path}: {e.Message}");
        }
    }

    /// <summary>Sends the file at <paramref name="path"/> in the sparse format: holes are skipped unread, zero blocks unsent.</summary>
    public static async Task EncodeAsync(string path, Stream output, Action<long>? progress = null, CancellationToken ct = default)
    {
        using var fh = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        var size = RandomAccess.GetLength(fh);
        var w = PipeWriter.Create(output, new StreamPipeWriterOptions(minimumBufferSize: SparseImage.Window + SparseStream.RecordHeaderSize, leaveOpen: true));
        try
        {
            await SparseImage.EncodeAsync(w, size, SparseFile.DataRegions(fh, size), (pos, into) => ReadFull(fh, pos, into), progress, ct);
            await w.CompleteAsync();
        }
        catch (Exception e)
        {
            await w.CompleteAsync(e);
            throw;
        }
    }

    /// <summary>
    /// Receives a sparse stream into a new file of the image's size at <paramref name="path"/> (holes stay holes; the
    /// file appears only once it is whole). Returns the image size and the data bytes written. <paramref name="progress"/>,
    /// when given, is told the image offset reached and the image size after each record.
    /// </summary>
    public static async Task<(long Size, long Written)> DecodeAsync(Stream input, string path, Action<long, long>? progress = null, CancellationToken ct = default)
    {
        var r = PipeReader.Create(input, new StreamPipeReaderOptions(bufferSize: SparseImage.Window, leaveOpen: true));
        var tmp = path + ".cairn-partial";
        try
        {
            var size = await SparseImage.ReadHeaderAsync(r, ct);
            long written = 0;
            using (var fh = File.OpenHandle(tmp, FileMode.Create, FileAccess.ReadWrite, FileShare.None))
            {
                RandomAccess.SetLength(fh, size);
                await SparseImage.DecodeRecordsAsync(r, size, (offset, data) =>
                {
                    // The image size may not be a multiple of 512: never write past it.
                    var l = (int)Math.Min(data.Length, size - offset);
                    if (l <= 0) return;
                    RandomAccess.Write(fh, data[..l], offset);
                    written += l;
                    progress?.Invoke(offset + l, size);
                }, ct);
            }
            File.Move(tmp, path, overwrite: true);
            await r.CompleteAsync();
            return (size, written);
        }
        catch (Exception e)
        {
            File.Delete(tmp);
            await r.CompleteAsync(e);
            throw;
        }
    }

    /// <summary>Reads until <paramref name="into"/> is full or the file ends.</summary>
    private static int ReadFull(SafeFileHandle fh, long pos, Span<byte> into)
    {
        int got = 0;
        while (got < into.Length)
        {
            var n = RandomAccess.Read(fh, into[got..], pos + got);
            if (n == 0) break;
            got += n;
        }
        return got;
    }
}
