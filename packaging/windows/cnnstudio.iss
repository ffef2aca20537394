; Inno Setup script for CNN Studio's Windows installer. packaging/build.py runs it as
;   iscc /DAppVersion=0.1.0 /DBundleDir=dist\cnnstudio /DOutputDir=dist /DOutputBaseName=... /DIconFile=resources\cnnstudio.ico
; It installs the PyInstaller bundle per user (no administrator rights needed) or for all users, adds
; Start menu and optional desktop shortcuts to the windowed "CNN Studio.exe", and puts cnnstudio.exe
; (the command line) on the user's PATH when asked.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef BundleDir
  #define BundleDir "..\..\dist\cnnstudio"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif
#ifndef OutputBaseName
  #define OutputBaseName "CNNStudio-setup"
#endif
#ifndef IconFile
  #define IconFile "..\..\resources\cnnstudio.ico"
#endif

[Setup]
AppId={{5B0E6C1A-2D4F-4C6B-9E0A-7C3D1F2B8A11}
AppName=CNN Studio
AppVersion={#AppVersion}
AppPublisher=CNN Studio developers
AppPublisherURL=https://github.com/cnnstudio/cnnstudio
DefaultDirName={autopf}\CNN Studio
DefaultGroupName=CNN Studio
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename={#OutputBaseName}
SetupIconFile={#IconFile}
UninstallDisplayIcon={app}\CNN Studio.exe
Compression=lzma2/fast
SolidCompression=no
LZMANumBlockThreads=4
DiskSpanning=no
WizardStyle=modern
ChangesEnvironment=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add the cnnstudio command to PATH (command line training)"; Flags: unchecked

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\CNN Studio"; Filename: "{app}\CNN Studio.exe"
Name: "{autodesktop}\CNN Studio"; Filename: "{app}\CNN Studio.exe"; Tasks: desktopicon

[Registry]
Root: HKCU; Subkey: "Environment"; ValueType: expandsz; ValueName: "Path"; ValueData: "{olddata};{app}"; \
    Tasks: addtopath; Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\CNN Studio.exe"; Description: "{cm:LaunchProgram,CNN Studio}"; Flags: nowait postinstall skipifsilent

[Code]
function NeedsAddPath(Dir: string): Boolean;
var
  Current: string;
begin
  if not RegQueryStringValue(HKEY_CURRENT_USER, 'Environment', 'Path', Current) then
    Current := '';
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Current) + ';') = 0;
end;
