using Cairn.Core;

namespace Cairn.Archive;

/// <summary>Why an archive was refused.</summary>
public enum ArchiveError
{
    /// <summary>The gzip or tar stream ends early.</summary>
    Truncated,
    /// <summary>The stream is not a gzip-compressed tar, or a header's checksum or a number in it is wrong.</summary>
    Corrupt,
    /// <summary>A member other than <c>volume-&lt;uuid&gt;.meta</c> and <c>volume-&lt;uuid&gt;.vol</c>, or one of them twice.</summary>
    UnexpectedMember,
    /// <summary>A member name with a directory part, <c>..</c> or an absolute path.</summary>
    PathTrick,
    /// <summary>The meta or the image member is missing.</summary>
    MissingMember,
    /// <summary>A size beyond the configured limits, or an image whose size disagrees with its meta.</summary>
    BadSize,
    /// <summary>The image's digest differs from the one recorded in the meta.</summary>
    DigestMismatch,
    /// <summary>The meta member is not the JSON object expected.</summary>
    BadMeta,
    /// <summary>A file name that is not a plain archive file in the backup directory.</summary>
    BadFileName,
}

/// <summary>An archive (or an archive file name) refused, with a one-line reason for backup_status.</summary>
public sealed class ArchiveException(ArchiveError error, string message, Exception? inner = null)
    : CairnException(ErrorKind.InvalidArgument, message, inner)
{
    /// <summary>The kind of refusal.</summary>
    public ArchiveError Error { get; } = error;
}
