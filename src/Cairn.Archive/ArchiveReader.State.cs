using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Cairn.Archive;

public static partial class ArchiveReader
{
    private sealed class ReadState(TarInput input, ArchiveReadOptions options,
        Func<ImageExtent, CancellationToken, ValueTask> onData, IProgress<ArchiveProgress>? progress)
    {
        private const int ZeroGranularity = 4096;
        private Guid? _id = options.ExpectedVolumeId;
        private JsonObject? _meta;
        private long? _imageSize;
        private string? _digest;
        private long _dataBytes;
        private readonly Func<ImageExtent, CancellationToken, ValueTask> _onData = onData;
        private readonly IProgress<ArchiveProgress>? _progress = progress;

        public async Task<ArchiveReadResult> RunAsync(CancellationToken ct)
        {
            var h = new byte[Tar.Block];
            Dictionary<string, string>? pax = null;
            while (true)
            {
                var at = input.Position;
                await input.ReadExactlyAsync(h, ct);
                if (Tar.IsZeroBlock(h))
                {
                    if (pax is not null) throw new ArchiveException(ArchiveError.Corrupt, "pax header without its member");
                    break;
                }
                if (!Tar.ChecksumOk(h)) throw new ArchiveException(ArchiveError.Corrupt, $"tar header checksum mismatch at offset {at}");
                if (!Tar.TrySize(h, out var size) || size < 0)
                    throw new ArchiveException(ArchiveError.Corrupt, $"tar header at offset {at} has a malformed size");
                if (pax is not null && pax.TryGetValue("size", out var ps)
                    && !long.TryParse(ps, NumberStyles.None, CultureInfo.InvariantCulture, out size))
                    throw new ArchiveException(ArchiveError.Corrupt, "pax size is malformed");
                var type = Tar.Type(h);
                switch (type)
                {
                    case 'x':
                        if (size > 1 << 20) throw new ArchiveException(ArchiveError.BadSize, $"pax header of {size} bytes");
                        pax = ParsePax(await ReadPaddedAsync((int)size, ct));
                        continue;
                    case 'g':
                        if (size > 1 << 20) throw new ArchiveException(ArchiveError.BadSize, $"pax header of {size} bytes");
                        await ReadPaddedAsync((int)size, ct);
                        continue;
                    case '5':
                        var dir = Tar.Name(h);
                        if (dir is "./" or "." && size == 0) { pax = null; continue; }
                        throw new ArchiveException(ArchiveError.UnexpectedMember, $"unexpected directory '{Printable(dir)}'");
                    case '0' or '\0' or '7' or 'S':
                        break;
                    default:
                        throw new ArchiveException(ArchiveError.UnexpectedMember,
                            $"unexpected member '{Printable(Tar.Name(h))}' of tar type '{Printable(type.ToString())}'");
                }
                var name = pax?.GetValueOrDefault("GNU.sparse.name") ?? pax?.GetValueOrDefault("path") ?? Tar.Name(h);
                var (id, isMeta) = ClassifyName(name);
                if (_id is { } expected && expected != id)
                    throw new ArchiveException(ArchiveError.UnexpectedMember, $"member '{Printable(name)}' belongs to volume {id}, not {expected}");
                _id = id;
                if (isMeta)
                {
                    if (_meta is not null) throw new ArchiveException(ArchiveError.UnexpectedMember, "two meta members");
                    if (type == 'S' || pax?.ContainsKey("GNU.sparse.major") == true)
                        throw new ArchiveException(ArchiveError.UnexpectedMember, "the meta member is sparse");
                    if (size > options.MaxMetaSize) throw new ArchiveException(ArchiveError.BadSize, $"meta member of {size} bytes");
                    _meta = ParseMeta(await ReadPaddedAsync((int)size, ct));
                }
                else
                {
                    if (_imageSize is not null) throw new ArchiveException(ArchiveError.UnexpectedMember, "two image members");
                    await ReadImageAsync(h, type, size, pax, ct);
                }
                pax = null;
            }
            // GNU tar writes a second zero block and pads to its record size; reading to the end checks gzip's trailer.
            if (!await input.DrainZerosAsync(ct))
                throw new ArchiveException(ArchiveError.UnexpectedMember, "data after the end of the tar archive");
            if (_meta is null) throw new ArchiveException(ArchiveError.MissingMember, "archive has no volume-<uuid>.meta member");
            if (_imageSize is not { } imageSize) throw new ArchiveException(ArchiveError.MissingMember, "archive has no volume-<uuid>.vol member");
            return new ArchiveReadResult(_id!.Value, _meta, imageSize, _digest!, CheckMeta(_meta, imageSize), _dataBytes);
        }

        private bool CheckMeta(JsonObject meta, long imageSize)
        {
            // The original's meta carries the volume's size in GiB.
            if (meta["size"] is JsonValue gv && gv.TryGetValue<long>(out var gib) && gib >= 0 && gib * (1L << 30) != imageSize)
                throw new ArchiveException(ArchiveError.BadSize, $"image is {imageSize} bytes but the meta says {gib} GiB");
            if (meta["cairn"] is not JsonObject cairn)
            {
                if (options.RequireDigest) throw new ArchiveException(ArchiveError.DigestMismatch, "archive records no image digest");
                return false;
            }
            if (cairn["size"] is JsonValue sv && (!sv.TryGetValue<long>(out var s) || s != imageSize))
                throw new ArchiveException(ArchiveError.BadSize, $"image is {imageSize} bytes but the meta says {sv.ToJsonString()}");
            if (cairn["image_digest"] is not JsonValue dv || !dv.TryGetValue<string>(out var recorded))
            {
                if (options.RequireDigest) throw new ArchiveException(ArchiveError.DigestMismatch, "archive records no image digest");
                return false;
            }
            if (!recorded.StartsWith(ImageDigest.Prefix, StringComparison.Ordinal))
                throw new ArchiveException(ArchiveError.BadMeta, $"unknown digest kind '{Printable(recorded)}'");
            if (!string.Equals(recorded, _digest, StringComparison.OrdinalIgnoreCase))
                throw new ArchiveException(ArchiveError.DigestMismatch, $"image digest mismatch: archive records {recorded}, image is {_digest}");
            return true;
        }

        private async ValueTask<byte[]> ReadPaddedAsync(int size, CancellationToken ct)
        {
            var data = new byte[size];
            await input.ReadExactlyAsync(data, ct);
            await input.SkipAsync(Tar.Padding(size), ct);
            return data;
        }

        private async ValueTask ReadImageAsync(byte[] h, char type, long stored, Dictionary<string, string>? pax, CancellationToken ct)
        {
            List<(long Offset, long Size)> map = [];
            long realSize;
            long consumed = 0; // bytes of the member's data used by the map
            if (type == 'S')
            {
                // Old GNU sparse: the map is in the header and in extension blocks that follow it.
                if (!Tar.TryReadGnuSparse(h, Tar.GnuSparseOff, Tar.GnuSparseCount, map)
                    || !Tar.TryParseNumber(h.AsSpan(Tar.GnuRealSizeOff, 12), out realSize))
                    throw new ArchiveException(ArchiveError.Corrupt, "malformed GNU sparse header");
                var extended = h[Tar.GnuIsExtendedOff] != 0;
                var ext = new byte[Tar.Block];
                while (extended)
                {
                    if (map.Count > 1 << 20) throw new ArchiveException(ArchiveError.BadSize, "sparse map too long");
                    await input.ReadExactlyAsync(ext, ct);
                    if (!Tar.TryReadGnuSparse(ext, 0, Tar.GnuExtCount, map))
                        throw new ArchiveException(ArchiveError.Corrupt, "malformed GNU sparse extension header");
                    extended = ext[Tar.GnuExtIsExtendedOff] != 0;
                }
            }
            else if (pax is not null && pax.TryGetValue("GNU.sparse.major", out var major))
            {
                if (major != "1" || pax.GetValueOrDefault("GNU.sparse.minor") != "0")
                    throw new ArchiveException(ArchiveError.UnexpectedMember, $"sparse format {major}.{pax.GetValueOrDefault("GNU.sparse.minor")} is not supported (only GNU 1.0 and old GNU)");
                if (!long.TryParse(pax.GetValueOrDefault("GNU.sparse.realsize"), NumberStyles.None, CultureInfo.InvariantCulture, out realSize))
                    throw new ArchiveException(ArchiveError.Corrupt, "sparse member without a valid GNU.sparse.realsize");
                consumed = await ReadSparseMap10Async(map, stored, ct);
            }
            else
            {
                realSize = stored;
                map.Add((0, stored));
            }
            if (realSize > options.MaxImageSize)
                throw new ArchiveException(ArchiveError.BadSize, $"image of {realSize} bytes exceeds the limit of {options.MaxImageSize}");
            long pos = 0, data = 0;
            foreach (var (o, n) in map)
            {
                if (o < pos || n < 0 || o > realSize || n > realSize - o)
                    throw new ArchiveException(ArchiveError.Corrupt, "sparse map regions overlap, are unsorted or lie beyond the image");
                pos = o + n;
                data += n;
            }
            if (data != stored - consumed)
                throw new ArchiveException(ArchiveError.Corrupt, $"sparse map holds {data} bytes but the member stores {stored - consumed}");
            _imageSize = realSize;
            using var sink = new BlockSink(this, realSize);
            foreach (var (o, n) in map)
            {
                await sink.ZerosAsync(o - sink.Position, ct);
                await sink.DataAsync(input, n, ct);
            }
            await sink.ZerosAsync(realSize - sink.Position, ct);
            _digest = sink.Finish();
            await input.SkipAsync(Tar.Padding(stored), ct);
        }

        // GNU sparse 1.0: decimal lines at the start of the data: the count, then offset and size per region; padded
        // to a block boundary.
        private async ValueTask<long> ReadSparseMap10Async(List<(long, long)> map, long stored, CancellationToken ct)
        {
            var block = new byte[Tar.Block];
            var text = new StringBuilder();
            long consumed = 0;
            var lines = new Queue<string>();
            async ValueTask<long> NextAsync()
            {
                while (lines.Count == 0)
                {
                    if (consumed + Tar.Block > stored || consumed > 64 << 20)
                        throw new ArchiveException(ArchiveError.Corrupt, "sparse map runs past its member");
                    await input.ReadExactlyAsync(block, ct);
                    consumed += Tar.Block;
                    text.Append(Encoding.ASCII.GetString(block));
                    var s = text.ToString();
                    var last = s.LastIndexOf('\n');
                    if (last < 0) continue;
                    foreach (var l in s[..last].Split('\n')) lines.Enqueue(l);
                    text.Clear().Append(s[(last + 1)..]);
                }
                var line = lines.Dequeue();
                return long.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out var v)
                    ? v : throw new ArchiveException(ArchiveError.Corrupt, "malformed sparse map");
            }
            var count = await NextAsync();
            if (count < 0 || count > stored / 2 + 1) throw new ArchiveException(ArchiveError.Corrupt, "sparse map count is absurd");
            for (long i = 0; i < count; i++) map.Add((await NextAsync(), await NextAsync()));
            return consumed;
        }

        /// <summary>Assembles the image in 1 MiB blocks: digest per block, non-zero 4 KiB runs to the callback.</summary>
        private sealed class BlockSink(ReadState state, long size) : IDisposable
        {
            private readonly byte[] _block = ArrayPool<byte>.Shared.Rent(ImageDigest.BlockSize);
            private readonly ImageDigest _digest = new();
            private int _fill;
            public long Position { get; private set; }

            public async ValueTask ZerosAsync(long count, CancellationToken ct)
            {
                while (count > 0)
                {
                    if (_fill == 0 && count >= ImageDigest.BlockSize)
                    {
                        var blocks = count / ImageDigest.BlockSize;
                        _digest.AddZeroBlocks(blocks);
                        Position += blocks * ImageDigest.BlockSize;
                        count -= blocks * ImageDigest.BlockSize;
                        state._progress?.Report(new ArchiveProgress(Position, size));
                        continue;
                    }
                    var n = (int)Math.Min(count, BlockRoom);
                    _block.AsSpan(_fill, n).Clear();
                    _fill += n;
                    Position += n;
                    count -= n;
                    await FlushIfFullAsync(ct);
                }
            }

            public async ValueTask DataAsync(TarInput input, long count, CancellationToken ct)
            {
                while (count > 0)
                {
                    var n = (int)Math.Min(count, BlockRoom);
                    await input.ReadExactlyAsync(_block.AsMemory(_fill, n), ct);
                    _fill += n;
                    Position += n;
                    count -= n;
                    await FlushIfFullAsync(ct);
                }
            }

            private long BlockRoom => Math.Min(ImageDigest.BlockSize - _fill, size - Position);

            private async ValueTask FlushIfFullAsync(CancellationToken ct)
            {
                if (_fill < ImageDigest.BlockSize && Position < size) return;
                var start = Position - _fill;
                var block = _block.AsMemory(0, _fill);
                _digest.AddBlock(block.Span);
                var p = 0;
                while (p < _fill)
                {
                    var piece = Math.Min(ZeroGranularity, _fill - p);
                    if (!block.Span.Slice(p, piece).ContainsAnyExcept((byte)0)) { p += piece; continue; }
                    var q = p + piece;
                    while (q < _fill)
                    {
                        var next = Math.Min(ZeroGranularity, _fill - q);
                        if (!block.Span.Slice(q, next).ContainsAnyExcept((byte)0)) break;
                        q += next;
                    }
                    await state._onData(new ImageExtent(start + p, block[p..q]), ct);
                    state._dataBytes += q - p;
                    p = q;
                }
                _fill = 0;
                state._progress?.Report(new ArchiveProgress(Position, size));
            }

            public string Finish() => _digest.Finish();

            public void Dispose()
            {
                _digest.Dispose();
                ArrayPool<byte>.Shared.Return(_block);
            }
        }
    }
}
