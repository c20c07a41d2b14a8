using System.Security.Cryptography;

namespace Cairn.Archive;

/// <summary>
/// The image digest <c>sha256-1m:&lt;hex&gt;</c>: SHA-256 over the concatenated SHA-256 digests of the image's 1 MiB
/// blocks (the last one may be shorter). A hole's block digest is a constant, so a thin 10 GiB image hashes in
/// microseconds plus the cost of its data; the per-block digests can be computed in any order.
/// </summary>
public sealed class ImageDigest : IDisposable
{
    /// <summary>The block size, 1 MiB.</summary>
    public const int BlockSize = 1 << 20;

    /// <summary>The prefix of the digest's text form.</summary>
    public const string Prefix = "sha256-1m:";

    private static readonly byte[] ZeroBlockDigest = SHA256.HashData(new byte[BlockSize]);
    private readonly IncrementalHash _outer = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    /// <summary>Adds the next block's data (exactly <see cref="BlockSize"/> bytes except for the last block).</summary>
    public void AddBlock(ReadOnlySpan<byte> block)
    {
        Span<byte> d = stackalloc byte[32];
        if (block.Length == BlockSize && !block.ContainsAnyExcept((byte)0)) _outer.AppendData(ZeroBlockDigest);
        else
        {
            SHA256.HashData(block, d);
            _outer.AppendData(d);
        }
    }

    /// <summary>
    /// One block's digest into <paramref name="digest"/> (32 bytes); <paramref name="knownZero"/> says the caller already
    /// found the block all zeros. Block digests are independent, so workers compute them in parallel.
    /// </summary>
    internal static void BlockDigest(ReadOnlySpan<byte> block, bool knownZero, Span<byte> digest)
    {
        if (knownZero && block.Length == BlockSize) ZeroBlockDigest.CopyTo(digest);
        else SHA256.HashData(block, digest);
    }

    /// <summary>Adds the next block by its digest (from <see cref="BlockDigest"/>).</summary>
    internal void AddBlockDigest(ReadOnlySpan<byte> digest) => _outer.AppendData(digest);

    /// <summary>Adds the next <paramref name="count"/> blocks, all zeros (full-size blocks).</summary>
    public void AddZeroBlocks(long count)
    {
        for (long i = 0; i < count; i++) _outer.AppendData(ZeroBlockDigest);
    }

    /// <summary>The digest's text form, <c>sha256-1m:&lt;lowercase hex&gt;</c>.</summary>
    public string Finish() => Prefix + Convert.ToHexStringLower(_outer.GetHashAndReset());

    public void Dispose() => _outer.Dispose();
}
