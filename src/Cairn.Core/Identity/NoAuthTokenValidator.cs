namespace Cairn.Core.Identity;

/// <summary>
/// Cinder's <c>noauth</c> mode, for development only: the token is <c>user:project</c> (or one name used for both),
/// it is taken at its word, and the caller is an admin. The host enables it only when asked for explicitly and only
/// on a loopback listener; it is never the default.
/// </summary>
public sealed class NoAuthTokenValidator : ITokenValidator
{
    private static readonly string[] AdminRoles = [Roles.Admin, Roles.Member, Roles.Reader];

    /// <inheritdoc />
    public ValueTask<Caller?> ValidateAsync(string token, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(token)) return ValueTask.FromResult<Caller?>(null);
        var colon = token.IndexOf(':', StringComparison.Ordinal);
        var user = colon < 0 ? token : token[..colon];
        var project = colon < 0 || colon == token.Length - 1 ? user : token[(colon + 1)..];
        return ValueTask.FromResult<Caller?>(new Caller(user, user, project, project, AdminRoles));
    }
}
