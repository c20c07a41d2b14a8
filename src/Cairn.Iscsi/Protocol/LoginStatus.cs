namespace Cairn.Iscsi.Protocol;

/// <summary>Login Response Status-Class and Status-Detail (RFC 7143 §11.13.5).</summary>
public readonly record struct LoginStatus(byte Class, byte Detail)
{
    public bool IsSuccess => Class == 0;
    public static readonly LoginStatus Success = new(0, 0);
    public static readonly LoginStatus InitiatorError = new(2, 0x00);
    public static readonly LoginStatus AuthenticationFailure = new(2, 0x01);
    public static readonly LoginStatus AuthorizationFailure = new(2, 0x02);
    public static readonly LoginStatus NotFound = new(2, 0x03);
    public static readonly LoginStatus TargetRemoved = new(2, 0x04);
    public static readonly LoginStatus UnsupportedVersion = new(2, 0x05);
    public static readonly LoginStatus TooManyConnections = new(2, 0x06);
    public static readonly LoginStatus MissingParameter = new(2, 0x07);
    public static readonly LoginStatus CannotIncludeInSession = new(2, 0x08);
    public static readonly LoginStatus SessionTypeNotSupported = new(2, 0x09);
    public static readonly LoginStatus SessionDoesNotExist = new(2, 0x0A);
    public static readonly LoginStatus InvalidDuringLogin = new(2, 0x0B);
    public static readonly LoginStatus TargetError = new(3, 0x00);
    public static readonly LoginStatus ServiceUnavailable = new(3, 0x01);
    public static readonly LoginStatus OutOfResources = new(3, 0x02);
}
