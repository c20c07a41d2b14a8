using System.Buffers;
using System.IO.Pipelines;
using Cairn.Core.Storage;
using Microsoft.Win32.SafeHandles;

namespace Cairn.Core.Transfer;

/// <summary>Copies raw images into a device, storing only their non-zero blocks.</summary>
internal static class ImageCopy
{
    private const int Block = SparseImage.Block;
    private const int Window = SparseImage.Window;

    /// <summary>
    /// Copies a file's non-zero blocks into the device on a few threads, a 1 MiB chunk at a time: holes are skipped
    /// unread, zero blocks are read but not stored. Returns the bytes stored.
    /// </summary>
    public static async Task<long> FromFileAsync(SafeFileHandle file, long size, IBlockDevice dev, CancellationToken ct)
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
                    cursor = Math.Max(cursor, regions.Current.Offset & ~(long)(Block - 1));
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

    /// <summary>Copies exactly <paramref name="size"/> raw bytes from <paramref name="body"/>; returns the bytes stored.</summary>
    public static async Task<long> FromRawAsync(PipeReader body, long size, IBlockDevice dev, CancellationToken ct)
    {
        var buf = ArrayPool<byte>.Shared.Rent(Window);
        try
        {
            long pos = 0, written = 0;
            while (pos < size)
            {
                int want = (int)Math.Min(Window, size - pos);
                await SparseImage.FillAsync(body, buf.AsMemory(0, want), $"after {pos} of {size} bytes", ct);
                written += StoreNonZero(dev, pos, buf, want);
                pos += want;
            }
            return written;
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
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
}
