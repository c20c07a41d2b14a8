using System.Text.Json.Nodes;
using Cairn.TestSupport;

namespace Cairn.Archive.Tests;

/// <summary>A temp directory with sparse test images, and helpers that run the real tools.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("cairn-archive-").FullName;
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() => Directory.Delete(Path, recursive: true);
}

public static class Images
{
    public static readonly Guid Id = Guid.Parse("7b220cb7-212f-411e-a8cd-41e6bdbac724");

    /// <summary>
    /// A sparse file of <paramref name="size"/> bytes with random data at scattered offsets, an explicitly written
    /// all-zero MiB (allocated, must become a hole) and data in the short last block.
    /// </summary>
    public static void MakeSparse(string path, long size, int seed = 1)
    {
        var rnd = new Random(seed);
        using var fh = System.IO.File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite);
        RandomAccess.SetLength(fh, size);
        void Put(long off, int len)
        {
            var b = new byte[len];
            rnd.NextBytes(b);
            RandomAccess.Write(fh, b, off);
        }
        Put(0, 64 << 10);
        Put((5 << 20) + 4096, 100 << 10);
        RandomAccess.Write(fh, new byte[1 << 20], 20L << 20); // allocated zeros
        Put((21L << 20) + 12345, 3000); // unaligned, straddles nothing
        Put((3L << 20) - 1000, 2000); // straddles a 1 MiB boundary
        if (size > (5L << 30)) Put(4L << 30, (1 << 20) + 37);
        if (size > (9L << 30)) Put((9L << 30) - 4096, 8192); // straddles 9 GiB
        Put(size - (700 << 10), 600 << 10); // in the last (short) block
    }

    public static JsonObject Meta(long size) => new()
    {
        ["version"] = 1,
        ["volume"] = new JsonObject { ["id"] = Id.ToString(), ["display_name"] = "vol1" },
        ["metadata"] = new JsonObject(),
        ["attachments"] = new JsonArray(),
    };

    public static async Task<ArchiveWriteResult> ExportAsync(string image, string dir, ArchiveWriteOptions? options = null,
        IProgress<ArchiveProgress>? progress = null, CancellationToken ct = default)
    {
        using var src = new FileImageSource(image);
        return await ArchiveWriter.WriteAsync(src, Id, Meta(src.Size), dir,
            ArchiveNames.FileName(Id, DateTimeOffset.UtcNow), options, progress, ct);
    }

    /// <summary>Imports into a new sparse file (writing only the extents); returns the result and what was written.</summary>
    public static async Task<(ArchiveReadResult Result, long Written)> ImportAsync(string archive, string target,
        ArchiveReadOptions? options = null)
    {
        await using var input = System.IO.File.OpenRead(archive);
        using var fh = System.IO.File.OpenHandle(target, FileMode.Create, FileAccess.ReadWrite);
        long written = 0;
        var result = await ArchiveReader.ReadAsync(input, (e, _) =>
        {
            Assert.True(e.Data.Span.ContainsAnyExcept((byte)0), "an all-zero extent was handed to the caller");
            RandomAccess.Write(fh, e.Data.Span, e.Offset);
            written += e.Data.Length;
            return ValueTask.CompletedTask;
        }, options, ct: TestContext.Current.CancellationToken);
        RandomAccess.SetLength(fh, result.ImageSize);
        return (result, written);
    }

    public static async Task<string> ShAsync(string script, int timeoutMinutes = 5)
    {
        ExternalTool.Require("tar", "tar");
        ExternalTool.Require("gzip", "gzip");
        ExternalTool.Require("python3", "python3");
        ExternalTool.Require("cmp", "diffutils");
        var r = await Commands.RunAsync("bash", ["-c", "set -euo pipefail; " + script], TimeSpan.FromMinutes(timeoutMinutes),
            ct: TestContext.Current.CancellationToken);
        Assert.True(r.Exit() == 0, $"`{script}` failed: {r.Output()}");
        return r.StdOut;
    }

    public static string Q(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
