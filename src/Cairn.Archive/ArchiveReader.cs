using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cairn.Archive;

/// <summary>A run of non-zero image bytes. <see cref="Data"/> is only valid during the callback.</summary>
public readonly record struct ImageExtent(long Offset, ReadOnlyMemory<byte> Data);

/// <summary>Import limits and expectations.</summary>
public sealed record ArchiveReadOptions
{
    /// <summary>When set, the members must be named after this volume.</summary>
    public Guid? ExpectedVolumeId { get; init; }

    /// <summary>Largest image accepted (default 64 TiB).</summary>
    public long MaxImageSize { get; init; } = 64L << 40;

    /// <summary>Largest meta member accepted (default 1 MiB).</summary>
    public int MaxMetaSize { get; init; } = 1 << 20;

    /// <summary>Refuse archives without a recorded digest (the original's never have one).</summary>
    public bool RequireDigest { get; init; }
}

/// <summary>What an import read.</summary>
/// <param name="VolumeId">The uuid in the member names.</param>
/// <param name="Meta">The meta JSON as stored (with the <c>cairn</c> field if Cairn wrote it).</param>
/// <param name="ImageSize">Size of the image in bytes.</param>
/// <param name="ImageDigest">The digest computed while reading (<c>sha256-1m:…</c>).</param>
/// <param name="DigestVerified">True when the archive recorded a digest and it matched.</param>
/// <param name="DataBytes">Bytes handed to the callback (the non-zero data).</param>
public sealed record ArchiveReadResult(Guid VolumeId, JsonObject Meta, long ImageSize, string ImageDigest,
    bool DigestVerified, long DataBytes);

/// <summary>
/// Reads a StarlingX archive as a stream: Cairn's (meta, then a pax-sparse image) and the original's (<c>tar czf</c> of
/// a meta file and a full raw image, either order, names possibly <c>./</c>-prefixed), and GNU tar's own sparse members
/// (<c>tar -S</c>, old GNU 'S' headers). Non-zero image data goes to a callback as extents; zero runs and holes never do.
/// Anything unexpected is refused with an <see cref="ArchiveException"/> that says why. See docs/archive.md.
/// </summary>
public static partial class ArchiveReader
{
    /// <summary>
    /// Reads the whole archive. The callback may be called before the archive is verified: write into a new layer and
    /// keep it only when this method returns.
    /// </summary>
    public static async Task<ArchiveReadResult> ReadAsync(Stream archive,
        Func<ImageExtent, CancellationToken, ValueTask> onData, ArchiveReadOptions? options = null,
        IProgress<ArchiveProgress>? progress = null, CancellationToken ct = default)
    {
        options ??= new ArchiveReadOptions();
        var input = await OpenAsync(archive, ct);
        await using (input.ConfigureAwait(false))
        {
            var state = new ReadState(new TarInput(input), options, onData, progress);
            return await state.RunAsync(ct);
        }
    }

    private static async ValueTask<Stream> OpenAsync(Stream archive, CancellationToken ct)
    {
        if (!archive.CanSeek) return new GZipStream(archive, CompressionMode.Decompress, leaveOpen: true);
        var magic = new byte[2];
        var start = archive.Position;
        var n = await archive.ReadAtLeastAsync(magic, 2, throwOnEndOfStream: false, ct);
        archive.Position = start;
        if (n < 2) throw new ArchiveException(ArchiveError.Truncated, "archive is empty");
        // 1f 8b: gzip (RFC 1952 §2.3.1); anything else is read as a plain tar, whose header checks catch garbage.
        return magic[0] == 0x1f && magic[1] == 0x8b
            ? new GZipStream(archive, CompressionMode.Decompress, leaveOpen: true)
            : new NonClosingStream(archive);
    }

    private sealed class NonClosingStream(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            inner.ReadAsync(buffer, cancellationToken);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>Exact reads from the decompressed tar stream; EOF is truncation, inflate errors are corruption.</summary>
    internal sealed class TarInput(Stream s)
    {
        public long Position { get; private set; }

        public async ValueTask ReadExactlyAsync(Memory<byte> buffer, CancellationToken ct)
        {
            int n;
            try { n = await s.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ct); }
            catch (InvalidDataException e)
            {
                throw new ArchiveException(ArchiveError.Corrupt, $"gzip data is corrupt near tar offset {Position}: {e.Message}", e);
            }
            Position += n;
            if (n < buffer.Length)
                throw new ArchiveException(ArchiveError.Truncated, $"archive is truncated at tar offset {Position}");
        }

        public async ValueTask SkipAsync(long count, CancellationToken ct)
        {
            var buf = new byte[(int)Math.Min(count, 1 << 16)];
            while (count > 0)
            {
                var n = (int)Math.Min(count, buf.Length);
                await ReadExactlyAsync(buf.AsMemory(0, n), ct);
                count -= n;
            }
        }

        /// <summary>Reads to the end (so gzip's trailer and CRC are checked); true if everything left is zeros.</summary>
        public async ValueTask<bool> DrainZerosAsync(CancellationToken ct)
        {
            var buf = new byte[1 << 16];
            var zeros = true;
            while (true)
            {
                int n;
                try { n = await s.ReadAsync(buf, ct); }
                catch (InvalidDataException e)
                {
                    throw new ArchiveException(ArchiveError.Corrupt, $"gzip data is corrupt after the tar end: {e.Message}", e);
                }
                if (n == 0) return zeros;
                Position += n;
                zeros &= !buf.AsSpan(0, n).ContainsAnyExcept((byte)0);
            }
        }
    }

    internal static Dictionary<string, string> ParsePax(ReadOnlySpan<byte> data)
    {
        // POSIX.1-2001 pax §extended header: records "%d %s=%s\n", the length counting the whole record.
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        while (data.Length > 0)
        {
            if (data[0] == 0) break;
            var sp = data.IndexOf((byte)' ');
            if (sp <= 0 || !int.TryParse(data[..sp], NumberStyles.None, CultureInfo.InvariantCulture, out var len)
                || len <= sp + 1 || len > data.Length || data[len - 1] != (byte)'\n')
                throw new ArchiveException(ArchiveError.Corrupt, "malformed pax extended header");
            var rec = data[(sp + 1)..(len - 1)];
            var eq = rec.IndexOf((byte)'=');
            if (eq <= 0) throw new ArchiveException(ArchiveError.Corrupt, "malformed pax extended header record");
            result[Encoding.UTF8.GetString(rec[..eq])] = Encoding.UTF8.GetString(rec[(eq + 1)..]);
            data = data[len..];
        }
        return result;
    }

    /// <summary>
    /// The member name checks: one leading <c>./</c> is allowed, then exactly <c>volume-&lt;uuid&gt;.vol</c> or
    /// <c>.meta</c>. Returns the uuid and whether it is the meta.
    /// </summary>
    internal static (Guid Id, bool IsMeta) ClassifyName(string name)
    {
        var n = name.StartsWith("./", StringComparison.Ordinal) ? name[2..] : name;
        if (n.StartsWith('/') || n.Contains('/', StringComparison.Ordinal) || n.Contains("..", StringComparison.Ordinal)
            || n.Contains('\\', StringComparison.Ordinal) || n.Contains('\0', StringComparison.Ordinal))
            throw new ArchiveException(ArchiveError.PathTrick, $"member name '{Printable(name)}' is not a plain file name");
        if (n.StartsWith("volume-", StringComparison.Ordinal) && n.Length == 7 + 36 + 4 && n.EndsWith(".vol", StringComparison.Ordinal)
            && Guid.TryParseExact(n.AsSpan(7, 36), "D", out var id)) return (id, false);
        if (n.StartsWith("volume-", StringComparison.Ordinal) && n.Length == 7 + 36 + 5 && n.EndsWith(".meta", StringComparison.Ordinal)
            && Guid.TryParseExact(n.AsSpan(7, 36), "D", out id)) return (id, true);
        throw new ArchiveException(ArchiveError.UnexpectedMember,
            $"unexpected member '{Printable(name)}' (only volume-<uuid>.meta and volume-<uuid>.vol belong in an archive)");
    }

    internal static string Printable(string s)
    {
        var sb = new StringBuilder(Math.Min(s.Length, 120));
        foreach (var c in s.Take(120)) sb.Append(char.IsControl(c) ? '?' : c);
        return sb.ToString();
    }

    internal static JsonObject ParseMeta(ReadOnlySpan<byte> data)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(data); }
        catch (JsonException e) { throw new ArchiveException(ArchiveError.BadMeta, $"meta is not valid JSON: {e.Message}", e); }
        if (node is not JsonObject meta) throw new ArchiveException(ArchiveError.BadMeta, "meta is not a JSON object");
        if (meta["version"] is not JsonValue v || !v.TryGetValue<int>(out var version) || version != 1)
            throw new ArchiveException(ArchiveError.BadMeta, "meta has no \"version\": 1");
        return meta;
    }
}
