using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Cairn.Core.Identity;
using Microsoft.AspNetCore.Connections.Features;

namespace Cairn.Api.Installer;

/// <summary>
/// The installer's public parameters USER_ID and PASSWORD. USER_ID is a Cairn user's id (or name); PASSWORD is the
/// "encrypted value" of the user's password: base64url(HMAC-SHA256(key = the user's stored PBKDF2 hash, message =
/// <c>cairn-installer-api:v1:&lt;user id&gt;</c>)). The raw password never travels, nothing new is stored (the hash is
/// the identity module's), the value changes when the password does, and the comparison is constant-time.
/// <c>POST /cairn/v1/installer/credentials</c> returns both (a <c>cairn installer credentials</c> command is not written yet). Failures are throttled per user and per
/// peer: after <see cref="FreeFailures"/> failures within <see cref="Window"/>, further attempts are refused for a
/// delay that doubles with every failure (up to <see cref="MaxDelay"/>).
/// </summary>
public sealed class InstallerAuth(IdentityService identity, TimeProvider time)
{
    public const int FreeFailures = 3;
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(15), MaxDelay = TimeSpan.FromMinutes(5);
    private readonly ConcurrentDictionary<string, (int Count, DateTimeOffset Last)> _failures = new(StringComparer.Ordinal);

    /// <summary>The PASSWORD value of the user with id <paramref name="userId"/>, or null when there is no such user.</summary>
    public string? Expected(string userId) =>
        identity.DerivedSecret(userId, Purpose(userId)) is { } mac ? WebBase64(mac) : null;

    public static string Purpose(string userId) => "cairn-installer-api:v1:" + userId;

    public static string WebBase64(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Checks the caller; throws with ret_code 1200 (wrong) or 1201 (throttled).</summary>
    public IdentityUser Check(string? userId, string? password, string peer)
    {
        if (string.IsNullOrEmpty(userId) || string.IsNullOrEmpty(password))
            throw new InstallerException(RetCodes.AuthFailed, 401, "USER_ID and PASSWORD are required (get them from POST /cairn/v1/installer/credentials with the user's name and password, on the Unix socket or loopback)");
        var now = time.GetUtcNow();
        foreach (var key in new[] { "u:" + userId, "p:" + peer })
            if (_failures.TryGetValue(key, out var f) && f.Count >= FreeFailures && now - f.Last < Window)
            {
                var delay = TimeSpan.FromSeconds(Math.Min(MaxDelay.TotalSeconds, Math.Pow(2, f.Count - FreeFailures)));
                if (now - f.Last < delay)
                    throw new InstallerException(RetCodes.TooManyFailures, 429,
                        $"too many failed authentications; retry in {Math.Ceiling((delay - (now - f.Last)).TotalSeconds)} s with the right USER_ID and PASSWORD");
            }
        var user = identity.FindUser(userId);
        var expected = user is null ? null : Expected(user.Id);
        // Compared even for an unknown user (against a random value of the same length), in constant time.
        var want = System.Text.Encoding.ASCII.GetBytes(expected ?? WebBase64(RandomNumberGenerator.GetBytes(32)));
        var got = System.Text.Encoding.ASCII.GetBytes(password);
        if (user is null || expected is null || !CryptographicOperations.FixedTimeEquals(want, got))
        {
            foreach (var key in new[] { "u:" + userId, "p:" + peer })
                _failures.AddOrUpdate(key, _ => (1, now), (_, f) => (now - f.Last < Window ? f.Count + 1 : 1, now));
            throw new InstallerException(RetCodes.AuthFailed, 401,
                "USER_ID or PASSWORD is wrong: PASSWORD is the value POST /cairn/v1/installer/credentials returns (it changes with the password)");
        }
        _failures.TryRemove("u:" + userId, out _);
        _failures.TryRemove("p:" + peer, out _);
        return user;
    }

    /// <summary>Whether the connection is loopback, the server's Unix socket, or TLS.</summary>
    public static bool SecureTransport(HttpContext ctx)
    {
        if (ctx.Request.IsHttps) return true;
        var socket = ctx.Features.Get<IConnectionSocketFeature>()?.Socket;
        if (socket?.AddressFamily == AddressFamily.Unix) return true;
        var remote = ctx.Connection.RemoteIpAddress;
        // No remote address and no socket: an in-process test server.
        return remote is null ? socket is null : IPAddress.IsLoopback(remote);
    }

    public static string Peer(HttpContext ctx) => ctx.Connection.RemoteIpAddress?.ToString() ?? "unix";
}
