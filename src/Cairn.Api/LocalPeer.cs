using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections.Features;

namespace Cairn.Api;

/// <summary>
/// Who is at the other end of a connection to the server's Unix socket. A peer running as the server's own user (or
/// root) can read whatever the server can, so it may hand the server a local file path instead of streaming bytes.
/// </summary>
public static partial class LocalPeer
{
    private const int SolSocket = 1, SoPeerCred = 17; // Linux (x86-64, arm64)

    [LibraryImport("libc")]
    private static partial uint geteuid();

    /// <summary>The peer's user id on a Unix-socket connection; null on a network connection.</summary>
    public static uint? Uid(HttpContext ctx)
    {
        var socket = ctx.Features.Get<IConnectionSocketFeature>()?.Socket;
        if (socket is null || socket.AddressFamily != AddressFamily.Unix) return null;
        Span<byte> cred = stackalloc byte[12]; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        if (socket.GetRawSocketOption(SolSocket, SoPeerCred, cred) < 12) return null;
        return BinaryPrimitives.ReadUInt32LittleEndian(cred[4..]);
    }

    /// <summary>True when the peer is on the server's Unix socket and runs as the server's user or as root.</summary>
    public static bool MayReadServerFiles(HttpContext ctx) =>
        OperatingSystem.IsLinux() && Uid(ctx) is { } uid && (uid == 0 || uid == geteuid());
}
